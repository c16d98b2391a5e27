{#- `commons-assets dbt run-operation seed_source`: creates the example's source data (the schemas
    COMMONS_SOURCE_SCHEMA, default `rdv`, and `annuaire`), replacing what an earlier run of this macro created.
    A schema of that name this macro did not create (its comment says so) is never dropped: it refuses instead.
    Source data of « Rendez-vous France services », the second example service of commons-assets: a booking
    service for appointments at France services counters. Deterministic (setseed, generate_series), fixed dates
    (2026-09-28 to 2026-11-29), so that every run and every test sees the same rows. Like a Rails or Django
    application's database: timestamps without time zone, in UTC; two schemas (the service's own, and the
    directory of counters and agents); a many-to-many table between appointments and their motives; no event
    table. It holds realistic direct identifiers (e-mails, phones, names, addresses): none may ever be published.
-#}
{% macro seed_source(service=none, directory='annuaire') %}
{%- set service = service or env_var('COMMONS_SOURCE_SCHEMA', 'rdv') -%}
{%- set mark = 'commons-assets example france_services_rdv: seeded source data' -%}
{%- set guard -%}
do $$
declare
    found text;
begin
    select string_agg(nspname, ', ') into found
    from pg_namespace
    where nspname in ('{{ service }}', '{{ directory }}')
        and obj_description(oid, 'pg_namespace') is distinct from '{{ mark }}';
    if found is not null then
        raise exception 'schema(s) % exist and were not created by seed_source: refusing to replace them', found;
    end if;
end $$;
drop schema if exists {{ service }} cascade;
drop schema if exists {{ directory }} cascade;
create schema {{ service }};
create schema {{ directory }};
comment on schema {{ service }} is '{{ mark }}';
comment on schema {{ directory }} is '{{ mark }}';
{%- endset -%}
{%- set seed -%}
select setseed(0.42);

create table {{ directory }}.structures (
    id integer primary key,
    name text not null,
    commune_code text not null,
    street_address text not null,
    phone text not null,
    email text not null
);

insert into {{ directory }}.structures
select
    s.id,
    'France services ' || s.town,
    s.commune_code,
    s.street_address,
    s.phone,
    'franceservices.' || lower(replace(s.town, ' ', '-')) || '@mairie.example.fr'
from (values
    (1, 'Rennes Maurepas', '35238', '32 rue de la Marbaudais', '02 99 27 41 10'),
    (2, 'Bruz', '35047', '4 place du Docteur Joly', '02 99 05 44 30'),
    (3, 'Saint-Malo', '35288', '10 boulevard Théodore Botrel', '02 23 18 33 20'),
    (4, 'Fougères', '35115', '2 rue Porte Saint-Léonard', '02 99 94 88 40'),
    (5, 'Saint-Brieuc', '22278', '5 rue Pierre Le Tourneux', '02 96 62 62 00'),
    (6, 'Dinan', '22050', '8 rue Haute Voie', '02 96 87 71 10'),
    (7, 'Lannion', '22113', '1 quai d''Aiguillon', '02 96 46 64 20'),
    (8, 'Guingamp', '22070', '11 place du Champ au Roy', '02 96 40 64 40'),
    (9, 'Quimper', '29232', '44 place Saint-Corentin', '02 98 98 89 89'),
    (10, 'Brest Bellevue', '29019', '1 place Napoléon III', '02 98 00 80 80'),
    (11, 'Morlaix', '29151', '7 place des Otages', '02 98 63 10 10'),
    (12, 'Carhaix', '29024', '2 rue Docteur Menguy', '02 98 99 33 33'),
    (13, 'Vannes', '56260', '9 rue Thiers', '02 97 01 60 00')
) as s (id, town, commune_code, street_address, phone);

create table {{ directory }}.agents (
    id integer primary key,
    structure_id integer not null references {{ directory }}.structures (id),
    first_name text not null,
    last_name text not null,
    email text not null
);

insert into {{ directory }}.agents
select
    g,
    1 + (g - 1) % 13,
    (array['Camille', 'Nadia', 'Yann', 'Sophie', 'Karim', 'Gwenaëlle', 'Loïc', 'Fatou', 'Erwan', 'Claire'])[1 + g % 10],
    (array['Le Goff', 'Martin', 'Bernard', 'Le Gall', 'Diallo', 'Tanguy', 'Morvan', 'Petit', 'Nguyen'])[1 + g % 9],
    'agent' || g || '@franceservices.example.fr'
from generate_series(1, 39) as g;

create table {{ service }}.motives (
    id integer primary key,
    name text not null,
    operator text not null
);

insert into {{ service }}.motives values
    (1, 'Carte grise et permis de conduire', 'ANTS'),
    (2, 'Déclaration de revenus', 'DGFiP'),
    (3, 'Prestations familiales', 'CAF'),
    (4, 'Retraite', 'Assurance retraite'),
    (5, 'Recherche d''emploi', 'France Travail'),
    (6, 'Assurance maladie', 'CPAM'),
    (7, 'Papiers d''identité', 'ANTS'),
    (8, 'Aide juridique', 'Ministère de la Justice');

create table {{ service }}.users (
    id bigint primary key,
    email text,
    phone_number text,
    first_name text not null,
    last_name text not null,
    address text,
    post_code text,
    birth_date date,
    home_structure_id integer not null,
    created_at timestamp without time zone not null
);

-- 3,000 people around twelve counters of Ille-et-Vilaine, Côtes-d'Armor and Finistère.
insert into {{ service }}.users
select
    g,
    lower(translate(f.first_name, 'ëéèï', 'eeei')) || '.' || lower(replace(l.last_name, ' ', '')) || g
        || (array['@laposte.net', '@orange.fr', '@gmail.com', '@free.fr'])[1 + g % 4],
    '0' || (6 + g % 2) || ' ' || lpad((g * 7919 % 100)::text, 2, '0') || ' ' || lpad((g * 104729 % 100)::text, 2, '0')
        || ' ' || lpad((g * 31 % 100)::text, 2, '0') || ' ' || lpad((g % 100)::text, 2, '0'),
    f.first_name,
    l.last_name,
    (1 + g % 120) || ' ' || (array['rue de Brest', 'avenue Janvier', 'rue de la Mairie', 'impasse des Lilas',
                                   'boulevard de la Liberté', 'chemin du Moulin'])[1 + g % 6],
    (array['35000', '35170', '35400', '35300', '22000', '22100', '22300', '22200', '29000', '29200', '29600',
           '29270'])[1 + s.structure_id - 1],
    date '1941-01-01' + (random() * 23000)::int,
    s.structure_id,
    timestamp '2025-01-01 08:00:00' + random() * interval '600 days'
from (select g, 1 + floor(random() * 12)::int as structure_id from generate_series(1, 3000) as g) as s
cross join lateral (
    select (array['Marie', 'Jean', 'Anne', 'Pierre', 'Fatima', 'Mohamed', 'Louise', 'Hugo', 'Maëlle', 'Tristan',
                  'Nathalie', 'Éric', 'Aïcha', 'Mathis', 'Léa', 'Bernard'])[1 + g % 16] as first_name
) as f
cross join lateral (
    select (array['Le Bihan', 'Guillou', 'Kerjean', 'Moreau', 'Benali', 'Le Roux', 'Thomas', 'Jaouen',
                  'Traoré', 'Rolland', 'Le Corre', 'Dubois'])[1 + (g * 7) % 12] as last_name
) as l;

-- Three people who come every week to the Vannes counter (13), alone in their département and age band: the
-- week of 2026-11-16 they have eleven appointments between them (4 + 4 + 3). Counted in rows, that group
-- would reach k = 11; counted in people it is three.
insert into {{ service }}.users values
    (3001, 'yvon.le.floch@laposte.net', '06 11 22 33 44', 'Yvon', 'Le Floch', '3 rue du Port', '56000',
     date '1980-05-01', 13, timestamp '2026-01-05 09:00:00'),
    (3002, 'rozenn.kervella@orange.fr', '06 55 66 77 88', 'Rozenn', 'Kervella', '17 rue Thiers', '56000',
     date '1982-03-14', 13, timestamp '2026-02-10 10:30:00'),
    (3003, 'goulven.le.meur@gmail.com', '07 12 34 56 78', 'Goulven', 'Le Meur', '2 place Gambetta', '56000',
     date '1979-11-30', 13, timestamp '2026-03-02 14:15:00');

create table {{ service }}.appointments (
    id bigint primary key,
    user_id bigint not null references {{ service }}.users (id),
    structure_id integer not null,
    agent_id integer,
    starts_at timestamp without time zone not null,
    created_at timestamp without time zone not null,
    status text not null,
    notes text
);

-- One to six appointments each over nine weeks (2026-W40 to 2026-W48), at the person's counter; one person in
-- ten comes back every week. Times are UTC, stored naive, as the application writes them.
insert into {{ service }}.appointments
select
    row_number() over (order by u.id, n),
    u.id,
    u.home_structure_id,
    u.home_structure_id + 13 * (n % 3),
    a.starts_at,
    a.starts_at - (1 + random() * 20) * interval '1 day',
    (array['seen', 'seen', 'seen', 'seen', 'seen', 'seen', 'noshow', 'excused', 'revoked', 'seen'])[1 + (random() * 9)::int],
    case
        when random() < 0.3 then 'Rappeler ' || u.first_name || ' au ' || u.phone_number || ' pour les pièces manquantes'
        when random() < 0.5 then 'Dossier complet, accompagnement en ligne'
    end
from {{ service }}.users as u
cross join lateral generate_series(1, case when u.id % 10 = 0 then 9 else 1 + (random() * 5)::int end) as n
cross join lateral (
    select
        case
            when u.id % 10 = 0 then timestamp '2026-09-28 08:00:00' + (n - 1) * interval '7 days'
                + (random() * 4)::int * interval '1 day' + (random() * 8)::int * interval '1 hour'
            else timestamp '2026-09-28 08:00:00' + (random() * 62)::int * interval '1 day'
                + (random() * 9)::int * interval '1 hour'
        end as starts_at
) as a
where u.id <= 3000;

insert into {{ service }}.appointments
select 100000 + p * 10 + n, 3000 + p, 13, 13, timestamp '2026-11-16 09:00:00' + n * interval '2 hours',
       timestamp '2026-11-10 17:00:00', 'seen', 'Suivi hebdomadaire'
from generate_series(1, 3) as p
cross join lateral generate_series(1, case when p = 3 then 3 else 4 end) as n;

-- The many-to-many: each appointment covers one or two motives.
create table {{ service }}.appointment_motives (
    appointment_id bigint not null references {{ service }}.appointments (id),
    motive_id integer not null references {{ service }}.motives (id),
    primary key (appointment_id, motive_id)
);

insert into {{ service }}.appointment_motives
select distinct a.id, m.motive_id
from {{ service }}.appointments as a
cross join lateral generate_series(1, case when a.id % 3 = 0 then 2 else 1 end) as k
cross join lateral (
    select (array[1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 6, 7, 7, 8])[1 + ((a.id * 13 + k * 7) % 15)::int] as motive_id
) as m;
{%- endset -%}
{% do run_query(guard) %}
{% do run_query(seed) %}
{{ log("seeded the example's source data in schemas " ~ service ~ " and " ~ directory, info=True) }}
{% endmacro %}
