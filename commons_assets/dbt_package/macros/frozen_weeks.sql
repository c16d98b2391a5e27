{#- True for a row of a week no release has published yet: `week_column` (an
    ISO week label, 2026-W47) is after the last week already published, as
    the ledger's copy of what the model published (`published_relation`, one
    row per published row, with the ledger's `published_in_week`) says, and
    at most the released week (least() per row: a past week republished after
    later ones freezes up to itself). Before the first release that copy is
    empty and every row is fresh. A model republishes the frozen weeks from
    that copy itself and computes only the rest, with
    `where {{ commons_privacy.not_frozen('published', 'week') }}`: see
    frozen_weeks.yml. -#}
{% macro not_frozen(published_relation, week_column) -%}
    coalesce(
        {{ week_column }} > (
            select
                max(least(
                    published_in_week,
                    {{ commons_privacy.release_week_label() }}
                ))
            from {{ published_relation }}
        ),
        -- nothing published yet: every week is fresh (a null week included)
        not exists (select 1 from {{ published_relation }})
    )
{%- endmacro %}
