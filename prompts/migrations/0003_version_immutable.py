"""A prompt version is immutable: PostgreSQL refuses any UPDATE that changes it, whoever sends it.

The only column that may change is `author_id`, and only to NULL: deleting a user sets the versions they
wrote to no author (on_delete=SET_NULL, an UPDATE Django sends). Anything else, a new column included, is
compared as the whole row, so a later migration that must rewrite versions has to drop this trigger first.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION prompts_promptversion_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'author_id') IS DISTINCT FROM (to_jsonb(OLD) - 'author_id')
       OR (NEW.author_id IS DISTINCT FROM OLD.author_id AND NEW.author_id IS NOT NULL) THEN
        RAISE EXCEPTION 'prompt versions are immutable: write a new version instead (prompt %, version %)',
            OLD.prompt_id, OLD.version
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER prompts_promptversion_immutable
BEFORE UPDATE ON prompts_promptversion
FOR EACH ROW EXECUTE FUNCTION prompts_promptversion_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS prompts_promptversion_immutable ON prompts_promptversion;
DROP FUNCTION IF EXISTS prompts_promptversion_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("prompts", "0002_labels_splits_composition"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
