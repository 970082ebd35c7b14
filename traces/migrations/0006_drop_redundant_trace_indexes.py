"""Drops two trace indexes that 0004's wider ones cover, because every index costs each trace write.

`trace_project_time` (project_id, -timestamp) is `trace_sort_time` (project_id, timestamp, id) without the id
(a btree reads either way), and `trace_tags` (tags) is `trace_project_tags` (project_id, tags) without the
project, which also made tag filters read every project's matches.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("traces", "0005_trace_list_statistics")]

    operations = [
        migrations.RemoveIndex(model_name="trace", name="trace_project_time"),
        migrations.RemoveIndex(model_name="trace", name="trace_tags"),
    ]
