{#- k-anonymity by local recoding, then suppression.

    recode_small_groups: an expression for a select list; within groups of the quasi-identifiers smaller than
    k, `column` takes `recode_value` (generalise before deleting: a rare département becomes "autres").

    suppress_small_groups: a query over `relation` keeping only rows whose quasi-identifier combination is
    shared by at least k rows; it adds the column `_group_size`, which final CTEs leave out. -#}

{% macro recode_small_groups(column, quasi_identifiers, k, recode_value) -%}
    case
        when count(*) over (partition by {{ quasi_identifiers | join(', ') }}) < {{ k }}
            then {{ recode_value }}
        else {{ column }}
    end
{%- endmacro %}

{% macro suppress_small_groups(relation, quasi_identifiers, k) -%}
    select *
    from (
        select
            *,
            count(*) over (
                partition by {{ quasi_identifiers | join(', ') }}
            ) as _group_size
        from {{ relation }}
    ) as grouped
    where _group_size >= {{ k }}
{%- endmacro %}

{#- Small-cell suppression in aggregates: a count under k is published as null (« secret statistique »). -#}
{% macro suppress_small_count(count_expression, k) -%}
    case when ({{ count_expression }}) >= {{ k }} then ({{ count_expression }}) end
{%- endmacro %}
