{#- A release-scoped random identifier: drawn anew at every build, so no identifier is shared by two releases
    and none can be reversed. Never a hash of an email, a phone or a source key (a hash of a guessable value
    is a pseudonym, not an anonym). gen_random_uuid() is core PostgreSQL (no pgcrypto needed). -#}
{% macro release_scoped_id() -%}
    gen_random_uuid()::text
{%- endmacro %}
