-- Checksum functions of the privacy detectors (commons_assets/privacy/detectors).
--
-- Executed as is by detectors.install_functions(conn), which skips it when the installed copy is current.
-- The detectors' SQL predicates call these functions only on the candidates their regex found, so they
-- run on a handful of values per table. Contract of every function here: immutable, parallel safe, NULL
-- or garbage in -> false out, never an error (a gate that crashes on an odd value blocks every release,
-- and an error message could echo the value). Hence no casts on unchecked input, no exception blocks
-- (subtransactions), and ASCII case folding with translate() so that the result does not depend on the
-- database's collation. Each function has a Python twin in the detector module; the tests check that
-- both agree.

create schema if not exists commons_privacy;

-- French social security number (NIR): 13 characters + a 2-digit key, key = 97 - (n mod 97), where the
-- Corsican departements 2A and 2B count as 19 and 18. Takes ONE candidate (separators allowed) and tells
-- whether it is a NIR; a 15-digit number with a wrong key is not one.
create or replace function commons_privacy.is_valid_nir(candidate text)
returns boolean
language plpgsql
immutable
parallel safe
as $$
declare
    compact text := translate(
        regexp_replace(coalesce(candidate, ''), '[^0-9A-Za-z]', '', 'g'),
        'abcdefghijklmnopqrstuvwxyz',
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
    );
begin
    if compact !~ '^[123478][0-9]{4}([0-9]{2}|2[AB])[0-9]{8}$' then
        return false;
    end if;
    -- The shape allows a letter only in the departement, right after a 2, so a global replace is exact.
    compact := replace(replace(compact, '2A', '19'), '2B', '18');
    return 97 - (left(compact, 13)::bigint % 97) = right(compact, 2)::integer;
end;
$$;

-- ISO 13616 registry: the IBAN length of each country code (NULL: not an IBAN country). Mirrors
-- IBAN_LENGTHS in iban.py.
create or replace function commons_privacy.iban_length(country_code text)
returns integer
language sql
immutable
parallel safe
as $$
    select registry.length
    from (values
        ('AD', 24), ('AE', 23), ('AL', 28), ('AT', 20), ('AZ', 28), ('BA', 20), ('BE', 16), ('BG', 22),
        ('BH', 22), ('BI', 27), ('BL', 27), ('BR', 29), ('BY', 28), ('CH', 21), ('CR', 22), ('CY', 28),
        ('CZ', 24), ('DE', 22), ('DJ', 27), ('DK', 18), ('DO', 28), ('EE', 20), ('EG', 29), ('ES', 24),
        ('FI', 18), ('FK', 18), ('FO', 18), ('FR', 27), ('GB', 22), ('GE', 22), ('GF', 27), ('GI', 23),
        ('GL', 18), ('GP', 27), ('GR', 27), ('GT', 28), ('HN', 28), ('HR', 21), ('HU', 28), ('IE', 22),
        ('IL', 23), ('IQ', 23), ('IS', 26), ('IT', 27), ('JO', 30), ('KW', 30), ('KZ', 20), ('LB', 28),
        ('LC', 32), ('LI', 21), ('LT', 20), ('LU', 20), ('LV', 21), ('LY', 25), ('MC', 27), ('MD', 24),
        ('ME', 22), ('MF', 27), ('MK', 19), ('MN', 20), ('MQ', 27), ('MR', 27), ('MT', 31), ('MU', 30),
        ('NC', 27), ('NI', 28), ('NL', 18), ('NO', 15), ('OM', 23), ('PF', 27), ('PK', 24), ('PL', 28),
        ('PM', 27), ('PS', 29), ('PT', 25), ('QA', 29), ('RE', 27), ('RO', 24), ('RS', 22), ('RU', 33),
        ('SA', 24), ('SC', 31), ('SD', 18), ('SE', 24), ('SI', 19), ('SK', 24), ('SM', 27), ('SO', 23),
        ('ST', 25), ('SV', 28), ('TF', 27), ('TL', 23), ('TN', 24), ('TR', 26), ('UA', 29), ('VA', 22),
        ('VG', 24), ('WF', 27), ('XK', 20), ('YE', 30), ('YT', 27)
    ) as registry (country, length)
    -- $1, not the parameter's name: in an SQL function a column of the same name would win.
    where registry.country = $1
$$;

-- IBAN: takes ONE candidate run (alphanumeric groups separated by spaces or hyphens, possibly followed by
-- other words) and tells whether an IBAN starts at one of its groups: country code + check digits, then
-- exactly the country's length, and (rearranged, letters as 10..35) = 1 mod 97. The mod is computed
-- digit by digit (chunked), so no 60-digit number is ever built.
create or replace function commons_privacy.is_valid_iban(candidate text)
returns boolean
language plpgsql
immutable
parallel safe
as $$
declare
    groups text[] := array_remove(
        regexp_split_to_array(
            translate(coalesce(candidate, ''), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'),
            '[^A-Z0-9]+'
        ),
        ''
    );
    expected integer;
    iban text;
    code integer;
    remainder integer;
begin
    for i in 1 .. coalesce(array_length(groups, 1), 0) loop
        continue when groups[i] !~ '^[A-Z]{2}[0-9]{2}';
        iban := array_to_string(groups[i:], '');
        expected := commons_privacy.iban_length(left(iban, 2));
        continue when expected is null or length(iban) < expected;
        iban := left(iban, expected);
        iban := substr(iban, 5) || left(iban, 4);
        remainder := 0;
        for j in 1 .. length(iban) loop
            code := ascii(substr(iban, j, 1));
            if code between 48 and 57 then
                remainder := (remainder * 10 + code - 48) % 97;
            else
                remainder := (remainder * 100 + code - 55) % 97;
            end if;
        end loop;
        if remainder = 1 then
            return true;
        end if;
    end loop;
    return false;
end;
$$;

-- First-name spellings (Jean, JEAN, Élodie, ÉLODIE…) for the person_name detector. The rows come from
-- data/first_names_fr.txt: install_functions() refills this table, which is why it is not filled here.
create table if not exists commons_privacy.first_names (
    spelling text primary key
);
