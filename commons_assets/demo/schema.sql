-- The demo service « Signalo »: residents report problems in public space (potholes, broken street
-- lights, illegal dumping) and follow them up. A fictional service whose database looks like a real one.
-- {schema} is replaced by COMMONS_SOURCE_SCHEMA.
drop schema if exists {schema} cascade;
create schema {schema};
-- The mark that lets `demo seed` and `bench` drop this schema again (commons_assets.demo.seed.DEMO_SCHEMA_MARK);
-- they refuse to drop a non-empty schema without it.
comment on schema {schema} is 'commons-assets demo';

-- Reference table: communes with their INSEE code, main postcode and département.
create table {schema}.communes (
    commune_code text primary key,
    name text not null,
    postcode text not null,
    departement_code text not null,
    population integer not null
);

-- Reference table: the categories a report can have.
create table {schema}.categories (
    category_code text primary key,
    label text not null
);

create table {schema}.users (
    user_id bigint primary key,
    email text not null,
    first_name text not null,
    last_name text not null,
    phone text,
    birth_date date not null,
    street_address text not null,
    postcode text not null,
    commune_code text not null references {schema}.communes (commune_code),
    signup_ip inet not null,
    created_at timestamptz not null
);

-- User-contributed records: the reports (signalements).
create table {schema}.reports (
    report_id bigint primary key,
    author_id bigint not null references {schema}.users (user_id),
    category_code text not null references {schema}.categories (category_code),
    message text not null,
    commune_code text not null references {schema}.communes (commune_code),
    latitude double precision not null,
    longitude double precision not null,
    status text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    closed_at timestamptz
);

-- Usage events, as the service's own tracker records them.
create table {schema}.events (
    event_id bigint primary key,
    event_name text not null,
    occurred_at timestamptz not null,
    visitor_id text not null,
    session_id text not null,
    user_id bigint,
    ip_address inet not null,
    user_agent text not null,
    page_url text not null
);
