{#- k-anonymity by local recoding, then suppression.

    recode_small_groups: an expression for a select list; within groups of the quasi-identifiers smaller than
    k, `column` takes `recode_value` (generalise before deleting: a rare département becomes "autres").

    suppress_small_groups: a query over `relation` keeping only rows whose quasi-identifier combination is
    shared by at least k rows; it adds the column `_group_size`, which final CTEs leave out.

    person_key (optional, both): where several rows can belong to one person (a user's weekly appointments),
    the column that identifies the person; groups are then measured in distinct persons, not rows, since
    eleven appointments of two people would otherwise pass for eleven people. -#}

{#- The number of distinct `person_key` values in each group, as a window expression (PostgreSQL has no
    `count(distinct …) over`): the rank of the last value counted upwards plus downwards. A null key counts
    as one person, which can only make a group look smaller (it errs towards suppressing). -#}
{% macro distinct_persons_over(person_key, quasi_identifiers) -%}
    (
        dense_rank() over (
            partition by {{ quasi_identifiers | join(', ') }}
            order by {{ person_key }} asc
        )
        + dense_rank() over (
            partition by {{ quasi_identifiers | join(', ') }}
            order by {{ person_key }} desc
        )
        - 1
    )
{%- endmacro %}

{#- The size of each quasi-identifier group: rows, or distinct persons with `person_key`. -#}
{% macro group_size_over(quasi_identifiers, person_key=none) -%}
    {%- if person_key is none -%}
        count(*) over (partition by {{ quasi_identifiers | join(', ') }})
    {%- else -%}
        {{ commons_privacy.distinct_persons_over(person_key, quasi_identifiers) }}
    {%- endif -%}
{%- endmacro %}

{% macro recode_small_groups(
    column, quasi_identifiers, k, recode_value, person_key=none
) -%}
    case
        when {{ commons_privacy.group_size_over(quasi_identifiers, person_key) }} < {{ k }}
            then {{ recode_value }}
        else {{ column }}
    end
{%- endmacro %}

{% macro suppress_small_groups(relation, quasi_identifiers, k, person_key=none) -%}
    select *
    from (
        select
            *,
            {{ commons_privacy.group_size_over(quasi_identifiers, person_key) }}
                as _group_size
        from {{ relation }}
    ) as grouped
    where _group_size >= {{ k }}
{%- endmacro %}

{#- Small-cell suppression in aggregates: a count under k is published as null (« secret statistique »).
    With `person_key`, an aggregate expression too, the cell is published only where it stands for at least k
    distinct persons, whatever it counts (eleven appointments of two people are suppressed). -#}
{% macro suppress_small_count(count_expression, k, person_key=none) -%}
    {%- if person_key is none -%}
    case when ({{ count_expression }}) >= {{ k }} then ({{ count_expression }}) end
    {%- else -%}
    case
        when count(distinct {{ person_key }}) >= {{ k }}
            then ({{ count_expression }})
    end
    {%- endif -%}
{%- endmacro %}

{#- Secondary suppression, for an aggregate that publishes a total row per group: where exactly one cell of a
    group is suppressed, it could be recomputed as the total minus the other cells (« par différence »), so
    the smallest published cell of that group is suppressed too; and where the one suppressed cell is the
    only cell, the total is. Returns a query over `relation` with `measure` suppressed, and `columns`. -#}
{% macro secondary_suppression(
    relation, columns, measure, group_by, dimension, total_value, k
) -%}
    {%- set partition = group_by | join(', ') -%}
    {%- set is_cell = dimension ~ " <> '" ~ total_value ~ "'" -%}
    select
        {% for column in columns -%}
        {{ column }},
        {% endfor -%}
        case
            when {{ measure }} < {{ k }} then null
            when {{ is_cell }} and _hidden = 1 and _rank = 1 then null
            when not ({{ is_cell }}) and _hidden = 1 and _shown = 0 then null
            else {{ measure }}
        end as {{ measure }}
    from (
        select
            *,
            count(*) filter (
                where {{ is_cell }} and {{ measure }} < {{ k }}
            ) over (partition by {{ partition }}) as _hidden,
            count(*) filter (
                where {{ is_cell }} and {{ measure }} >= {{ k }}
            ) over (partition by {{ partition }}) as _shown,
            row_number() over (
                partition by {{ partition }}
                order by
                    case
                        when {{ is_cell }} and {{ measure }} >= {{ k }}
                            then {{ measure }}
                    end asc nulls last,
                    {{ dimension }}
            ) as _rank
        from {{ relation }}
    ) as ranked
{%- endmacro %}

{#- l-diversity: a sensitive value is published only in groups where it takes at least two distinct values;
    in a group whose members all share it, it would be learnt about each of them, so it is left empty. -#}
{% macro l_diversify(column, quasi_identifiers) -%}
    case
        when min({{ column }}) over (
            partition by {{ quasi_identifiers | join(', ') }}
        ) <> max({{ column }}) over (
            partition by {{ quasi_identifiers | join(', ') }}
        )
            then {{ column }}
    end
{%- endmacro %}
