"""`commons-assets bench`: how far the weekly release is from what PostgreSQL alone needs, and from pandas.

    commons-assets bench [--users N] [--events M] [--week 2026-W47]

In one run, on the warehouse of the current settings (COMMONS_HOME, COMMONS_WAREHOUSE_URL…):

1. seeds the demo service at that scale, `week` being its last complete week (timed apart);
2. runs `commons-assets release --week W --target <temp folder>` as a subprocess, sampling every 0.2 s the
   resident memory of that process and of all its children (dbt included); per stage wall times (dbt build,
   privacy gate, export, publish) come from the step events the Dagster run recorded;
3. the FLOOR: PostgreSQL alone streaming `COPY (<compiled SQL of each published model>) TO STDOUT` to
   /dev/null through `psql` (the published models read the staging and intermediate views, so the floor
   computes those too);
4. a NAIVE BASELINE: the same three published tables computed by pandas after `pandas.read_sql` of the source
   tables, in a subprocess sampled the same way, written to CSV like the export;
5. the time to load the code location (`python -c "import commons_assets.definitions"`).

It prints a table, then, last, exactly three lines: `ratio_to_floor=…`, `speedup_vs_pandas=…`,
`peak_rss_mb=…`; `run_bench()` returns every figure as a dict.

Seeding replaces the source schema (COMMONS_SOURCE_SCHEMA): run it on a COMMONS_HOME of its own.
"""
