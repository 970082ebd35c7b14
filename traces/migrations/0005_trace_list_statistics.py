"""Statistics for 0004's expression indexes, gathered once right after they exist.

PostgreSQL keeps statistics on an expression index's expression (the search text, `COALESCE(total_cost, -1)`,
`COALESCE(latency_ms, -1)`) only after an ANALYZE that runs while the index exists. Until then the planner
guesses, and at a million traces a guess goes badly: `cost_min=0.05` (a handful of traces) read the time index
for 800 ms instead of the cost index for 1 ms, and `cost 0.001–0.002` (a fifth of them) the other way round.
Autovacuum's next ANALYZE would come only after a tenth of the table changed. ANALYZE reads a fixed sample
(30,000 rows by default), about 3 s at a million traces, and takes no lock that blocks reads or writes.
"""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("traces", "0004_trace_list_indexes")]

    operations = [migrations.RunSQL("ANALYZE traces_trace", migrations.RunSQL.noop)]
