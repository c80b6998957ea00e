"""A large synthetic schema (500+ tables) mixing every shape issue 13 lists, as SQL text.

Production schemas that populate must fill (ERPs, DevOps platforms, music
encyclopedias) are not shipped with the project; this generator stands in for
them. Every "module" is one instance of each family of shapes below, placed in
one of several schemas and linked to the module before it (cross-schema foreign
keys); the families are the reproductions of the issue, put together:

- core: CHECK ``<> ''``, a self tree, jsonb UNIQUE, char(2)/char(3) codes, CHECK (t1 < t2) on two FKs
- keys: composite FKs with text columns, 1:1 composite FK, FK to a unique in another order,
  two composite FKs sharing a column
- uniques: expression (``lower``, ``coalesce``) and partial (``WHERE x IS NOT NULL``, ``WHERE active``)
  unique indexes, UNIQUE over jsonb and arrays
- triggers: a BEFORE trigger assigning ids from a sequence, AFTER triggers writing other tables
- partitions: RANGE, LIST, boolean LIST, HASH (+ a FK into one partition, a CHECK on one partition);
  multi-level: LIST -> RANGE -> RANGE (the same column twice, with gaps), LIST -> HASH, a CHECK on a leaf
- INHERITS sharing one id sequence
- CHECKs: disjunctions, regexes, ``upper() IN``, ``num_nonnulls``, ``jsonb_typeof``, ``date_trunc``,
  lengths of text and bytea, ``fk IS NOT NULL``, a "special row", a domain
- caps: a singleton, a unique enum; range types with exclusion constraints; sequences above 1;
  GENERATED ALWAYS identities; cycles (one through a unique FK)

The text depends only on ``modules`` and ``seed``. ``python tests/synthetic_schema.py [modules]`` prints it.
"""

from __future__ import annotations

import random
import re
import sys
from dataclasses import dataclass, field

SCHEMAS = ("public", "sales", "ops", "music", "audit")
MODULES = 9  # 59 tables each: 531 tables
_PLACEHOLDER = re.compile(r"\{(t_\w+|s|p)\}")


@dataclass
class SyntheticSchema:
    """The SQL, the tables it creates (qualified, partitions excluded) and the row caps some of them have."""

    sql: str
    tables: list[str] = field(default_factory=list)
    caps: dict[str, int] = field(default_factory=dict)  # table -> at most this many rows can exist


class _Module:
    """One instance of every family, its tables named ``{schema}.m{index}_{name}``."""

    def __init__(self, index: int, rng: random.Random, previous: str | None) -> None:
        self.schema = SCHEMAS[index % len(SCHEMAS)]
        self.prefix = f"m{index:02d}"
        self.rng = rng
        self.previous = previous  # the qualified partner table of the module before, if any
        self.statements: list[str] = []
        self.tables: list[str] = []
        self.caps: dict[str, int] = {}

    def t(self, name: str) -> str:
        """The qualified name of this module's table *name*."""
        return f"{self.schema}.{self.prefix}_{name}"

    def add(self, statement: str, *tables: str) -> None:
        """*statement* with ``{t_name}`` (a table of this module), ``{s}`` (schema), ``{p}`` (prefix) filled."""
        def fill(match: re.Match[str]) -> str:
            word = match.group(1)
            return self.schema if word == "s" else self.prefix if word == "p" else self.t(word[2:])

        self.statements.append(_PLACEHOLDER.sub(fill, statement.strip()))
        self.tables += [self.t(name) for name in tables]

    def build(self) -> None:
        for family in (self.core, self.keys, self.uniques, self.triggers, self.partitions, self.inherits,
                       self.checks, self.caps_and_ranges, self.sequences, self.cycles):
            family()

    # -- families ---------------------------------------------------------------------------
    def core(self) -> None:
        upper = self.rng.choice((11, 15, 31))
        ref = f", ref_id int REFERENCES {self.previous}" if self.previous else ""
        self.add(f"""
CREATE TABLE {{t_partner}} (id serial PRIMARY KEY, name text NOT NULL CHECK (name <> ''),
  email varchar(120) UNIQUE, phone text, active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(), parent_id int REFERENCES {{t_partner}}{ref});
CREATE TABLE {{t_tag}} (id serial PRIMARY KEY, name text NOT NULL UNIQUE CHECK (name <> ''),
  color int CHECK (color >= 0 AND color <= {upper}));
CREATE TABLE {{t_tag_rel}} (t1 int NOT NULL REFERENCES {{t_tag}}, t2 int NOT NULL REFERENCES {{t_tag}},
  PRIMARY KEY (t1, t2), CHECK (t1 < t2));
CREATE TABLE {{t_currency}} (code char(3) PRIMARY KEY, name text NOT NULL,
  rounding numeric(12, 6) NOT NULL CHECK (rounding > 0));
CREATE TABLE {{t_country}} (code char(2) PRIMARY KEY, name jsonb NOT NULL UNIQUE,
  currency_code char(3) REFERENCES {{t_currency}});
""", "partner", "tag", "tag_rel", "currency", "country")

    def keys(self) -> None:
        self.add("""
CREATE TABLE {t_c} (id varchar(5) PRIMARY KEY);
CREATE TABLE {t_d} (id varchar(5) PRIMARY KEY);
CREATE TABLE {t_cd} (c_id varchar(5) NOT NULL REFERENCES {t_c}, d_id varchar(5) NOT NULL REFERENCES {t_d},
  PRIMARY KEY (c_id, d_id));
CREATE TABLE {t_tf} (t char(13), f int, PRIMARY KEY (t, f));
CREATE TABLE {t_bp} (t char(13), f int, note text, PRIMARY KEY (t, f), FOREIGN KEY (t, f) REFERENCES {t_tf});
CREATE TABLE {t_b} (id bigint, part bigint, PRIMARY KEY (id, part), UNIQUE (part, id));
CREATE TABLE {t_bm} (build_id bigint, part bigint, PRIMARY KEY (build_id, part),
  FOREIGN KEY (part, build_id) REFERENCES {t_b} (part, id));
CREATE TABLE {t_wh} (company_id int NOT NULL REFERENCES {t_partner}, id int NOT NULL, name text,
  PRIMARY KEY (company_id, id));
CREATE TABLE {t_move} (id serial PRIMARY KEY, company_id int NOT NULL, wh_id int NOT NULL, dest_id int NOT NULL,
  qty numeric(10, 2) NOT NULL CHECK (qty > 0),
  FOREIGN KEY (company_id, wh_id) REFERENCES {t_wh}, FOREIGN KEY (company_id, dest_id) REFERENCES {t_wh});
""", "c", "d", "cd", "tf", "bp", "b", "bm", "wh", "move")

    def uniques(self) -> None:
        self.add("""
CREATE TABLE {t_editor} (id serial PRIMARY KEY, name text NOT NULL, bio text);
CREATE UNIQUE INDEX ON {t_editor} (lower(name));
CREATE TABLE {t_presence} (id serial PRIMARY KEY, user_id int REFERENCES {t_partner}, seen_at timestamptz);
CREATE UNIQUE INDEX ON {t_presence} (user_id) WHERE user_id IS NOT NULL;
CREATE TABLE {t_setting} (id serial PRIMARY KEY, key text NOT NULL, active boolean NOT NULL DEFAULT false);
CREATE UNIQUE INDEX ON {t_setting} (active) WHERE active;
CREATE TABLE {t_alias} (id serial PRIMARY KEY, company_id int REFERENCES {t_partner}, code varchar(16) NOT NULL);
CREATE UNIQUE INDEX ON {t_alias} (coalesce(company_id, 0), code);
CREATE TABLE {t_doc} (id serial PRIMARY KEY, meta jsonb NOT NULL UNIQUE);
CREATE TABLE {t_toc} (id serial PRIMARY KEY, n int NOT NULL, offs int[] NOT NULL, UNIQUE (n, offs));
""", "editor", "presence", "setting", "alias", "doc", "toc")

    def triggers(self) -> None:
        self.add("""
CREATE TABLE {t_pipeline} (id bigserial PRIMARY KEY, ref text);
ALTER SEQUENCE {t_pipeline}_id_seq RESTART 1000;
CREATE FUNCTION {s}.{p}_assign_id() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.id := nextval('{t_pipeline}_id_seq'); RETURN NEW; END$$;
CREATE TRIGGER assign_id BEFORE INSERT ON {t_pipeline} FOR EACH ROW EXECUTE FUNCTION {s}.{p}_assign_id();
CREATE TABLE {t_stage} (id serial PRIMARY KEY, pipeline_id bigint NOT NULL REFERENCES {t_pipeline}, name text);
CREATE TABLE {t_event} (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE {t_event_meta} (id int PRIMARY KEY REFERENCES {t_event}, info text);
CREATE FUNCTION {s}.{p}_event_meta() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO {t_event_meta} (id) VALUES (NEW.id); RETURN NULL; END$$;
CREATE TRIGGER event_meta AFTER INSERT ON {t_event} FOR EACH ROW EXECUTE FUNCTION {s}.{p}_event_meta();
CREATE TABLE {t_audit_log} (id serial PRIMARY KEY, table_name text NOT NULL, row_id int NOT NULL);
CREATE FUNCTION {s}.{p}_audit() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO {t_audit_log} (table_name, row_id) VALUES (TG_TABLE_NAME, NEW.id); RETURN NULL; END$$;
CREATE TRIGGER audit AFTER INSERT ON {t_stage} FOR EACH ROW EXECUTE FUNCTION {s}.{p}_audit();
""", "pipeline", "stage", "event", "event_meta", "audit_log")

    def partitions(self) -> None:
        years = "\n".join(f"CREATE TABLE {{t_measure}}_{y} PARTITION OF {{t_measure}} "
                          f"FOR VALUES FROM ('{y}-01-01') TO ('{y + 1}-01-01');" for y in range(2019, 2025))
        hashes = "\n".join(f"CREATE TABLE {{t_hashed}}_p{r} PARTITION OF {{t_hashed}} "
                           f"FOR VALUES WITH (MODULUS 4, REMAINDER {r});" for r in range(4))
        self.add(f"""
CREATE TABLE {{t_measure}} (id bigint NOT NULL, logdate date NOT NULL, value numeric(10, 2),
  partner_id int REFERENCES {{t_partner}}, PRIMARY KEY (id, logdate)) PARTITION BY RANGE (logdate);
{years}
CREATE TABLE {{t_measure_note}} (id serial PRIMARY KEY, measure_id bigint NOT NULL, logdate date NOT NULL,
  note text, FOREIGN KEY (measure_id, logdate) REFERENCES {{t_measure}});
CREATE TABLE {{t_ticket}} (id int NOT NULL, region text NOT NULL, priority int NOT NULL CHECK (priority BETWEEN 1 AND 5),
  PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE {{t_ticket}}_eu PARTITION OF {{t_ticket}} FOR VALUES IN ('eu');
CREATE TABLE {{t_ticket}}_us PARTITION OF {{t_ticket}} FOR VALUES IN ('us');
CREATE TABLE {{t_ticket}}_apac PARTITION OF {{t_ticket}} FOR VALUES IN ('asia', 'oceania');
ALTER TABLE {{t_ticket}}_us ADD CONSTRAINT us_priority CHECK (priority <= 3);
CREATE TABLE {{t_flagged}} (id int NOT NULL, va boolean NOT NULL, label text) PARTITION BY LIST (va);
CREATE TABLE {{t_flagged}}_on PARTITION OF {{t_flagged}} FOR VALUES IN (true);
CREATE TABLE {{t_flagged}}_off PARTITION OF {{t_flagged}} FOR VALUES IN (false);
CREATE TABLE {{t_hashed}} (id int PRIMARY KEY, payload text) PARTITION BY HASH (id);
{hashes}
CREATE TABLE {{t_hash_ref}} (id serial PRIMARY KEY, hashed_id int NOT NULL REFERENCES {{t_hashed}}_p0 (id));
CREATE TABLE {{t_reading}} (id bigint NOT NULL, site text NOT NULL, taken date NOT NULL, value int,
  partner_id int REFERENCES {{t_partner}}, PRIMARY KEY (id, site, taken)) PARTITION BY LIST (site);
CREATE TABLE {{t_reading}}_north PARTITION OF {{t_reading}} FOR VALUES IN ('north', 'arctic')
  PARTITION BY RANGE (taken);
CREATE TABLE {{t_reading}}_n23 PARTITION OF {{t_reading}}_north FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE {{t_reading}}_n24 PARTITION OF {{t_reading}}_north FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
  PARTITION BY RANGE (taken);
CREATE TABLE {{t_reading}}_n24h1 PARTITION OF {{t_reading}}_n24 FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
ALTER TABLE {{t_reading}}_n24h1 ADD CONSTRAINT small_h1 CHECK (value BETWEEN 0 AND 10);
CREATE TABLE {{t_reading}}_south PARTITION OF {{t_reading}} FOR VALUES IN ('south') PARTITION BY HASH (id);
CREATE TABLE {{t_reading}}_s0 PARTITION OF {{t_reading}}_south FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE {{t_reading}}_s1 PARTITION OF {{t_reading}}_south FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE {{t_reading}}_west PARTITION OF {{t_reading}} FOR VALUES IN ('west');
""", "measure", "measure_note", "ticket", "flagged", "hashed", "hash_ref", "reading")

    def inherits(self) -> None:
        self.add("""
CREATE TABLE {t_item} (id serial PRIMARY KEY, name text NOT NULL, price numeric(10, 2) CHECK (price >= 0));
CREATE TABLE {t_book} (isbn varchar(17), PRIMARY KEY (id)) INHERITS ({t_item});
CREATE TABLE {t_disc} (tracks int NOT NULL CHECK (tracks > 0), PRIMARY KEY (id)) INHERITS ({t_item});
""", "item", "book", "disc")

    def checks(self) -> None:
        codes = self.rng.sample(["SC", "VC", "IN", "EM", "SP", "GC", "AB", "ZZ"], 6)
        listed = ", ".join(f"'{code}'" for code in codes)
        self.add(f"""
CREATE TABLE {{t_person}} (id serial PRIMARY KEY, persontype char(2) NOT NULL CHECK (upper(persontype) IN ({listed})));
CREATE TABLE {{t_isrc}} (id serial PRIMARY KEY, isrc char(12) NOT NULL CHECK (isrc ~ '^[A-Z]{{2}}[A-Z0-9]{{3}}[0-9]{{7}}$'));
CREATE TABLE {{t_labels}} (id serial PRIMARY KEY, partner_id int REFERENCES {{t_partner}},
  tag_id int REFERENCES {{t_tag}}, editor_id int REFERENCES {{t_editor}},
  CHECK (num_nonnulls(partner_id, tag_id, editor_id) = 1));
CREATE TABLE {{t_jobs}} (id serial PRIMARY KEY, c jsonb NOT NULL CHECK (jsonb_typeof(c) = 'array'));
CREATE TABLE {{t_month}} (id serial PRIMARY KEY, d date NOT NULL CHECK (d = date_trunc('month', d)));
CREATE TABLE {{t_artist}} (id serial PRIMARY KEY, end_year smallint, end_month smallint, end_day smallint,
  ended boolean NOT NULL DEFAULT false,
  CHECK (((end_year IS NOT NULL OR end_month IS NOT NULL OR end_day IS NOT NULL) AND ended)
         OR (end_year IS NULL AND end_month IS NULL AND end_day IS NULL)));
CREATE TABLE {{t_sol}} (id serial PRIMARY KEY, display_type varchar, product_id int, price_unit numeric NOT NULL,
  CHECK (display_type IS NULL OR (product_id IS NULL AND price_unit = 0)));
CREATE TABLE {{t_survey}} (id serial PRIMARY KEY, pct float CHECK (pct IS NULL OR (pct >= 0 AND pct <= 100)));
CREATE TABLE {{t_reservation}} (id serial PRIMARY KEY, partner_id int REFERENCES {{t_partner}}, guest_id int,
  CHECK ((partner_id IS NOT NULL) <> (guest_id IS NOT NULL)));
CREATE TABLE {{t_namespace}} (id bigserial PRIMARY KEY, partner_id int REFERENCES {{t_partner}},
  CONSTRAINT has_partner CHECK (partner_id IS NOT NULL));
CREATE TABLE {{t_secret}} (id serial PRIMARY KEY, iv bytea NOT NULL CHECK (length(iv) <= 17),
  cve text NOT NULL UNIQUE CHECK (char_length(cve) <= 24));
CREATE DOMAIN {{s}}.{{p}}_percent AS numeric(5, 2) CHECK (VALUE BETWEEN 0 AND 100);
CREATE TABLE {{t_special}} (id serial PRIMARY KEY, a text, b int, share {{s}}.{{p}}_percent,
  CHECK (id <> 1 OR (a IS NULL AND b IS NULL)));
""", "person", "isrc", "labels", "jobs", "month", "artist", "sol", "survey", "reservation", "namespace",
                 "secret", "special")

    def caps_and_ranges(self) -> None:
        self.add("""
CREATE TABLE {t_config} (id serial PRIMARY KEY, singleton boolean NOT NULL DEFAULT true UNIQUE
  CHECK (singleton IS TRUE), value text);
CREATE TYPE {s}.{p}_mood_kind AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE {t_mood} (id serial PRIMARY KEY, mood {s}.{p}_mood_kind NOT NULL UNIQUE);
CREATE TABLE {t_booking} (id serial PRIMARY KEY, room int NOT NULL, during tstzrange NOT NULL,
  EXCLUDE USING gist (room WITH =, during WITH &&));
CREATE TABLE {t_rotation} (id serial PRIMARY KEY, rotation_id int NOT NULL REFERENCES {t_partner},
  starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, CHECK (ends_at > starts_at),
  EXCLUDE USING gist (rotation_id WITH =, tstzrange(starts_at, ends_at) WITH &&));
CREATE TABLE {t_price_band} (id serial PRIMARY KEY, qty int4range NOT NULL, amount numrange,
  valid daterange NOT NULL, total int8range, CHECK (lower(qty) >= 0));
""", "config", "mood", "booking", "rotation", "price_band")
        self.caps[self.t("config")] = 1
        self.caps[self.t("mood")] = 3

    def sequences(self) -> None:
        self.add("""
CREATE SEQUENCE {t_invoice}_seq START 1000 MINVALUE 1000;
CREATE TABLE {t_invoice} (id int PRIMARY KEY DEFAULT nextval('{t_invoice}_seq'),
  partner_id int NOT NULL REFERENCES {t_partner}, currency_code char(3) REFERENCES {t_currency},
  total numeric(12, 2) NOT NULL CHECK (total >= 0));
ALTER SEQUENCE {t_invoice}_seq OWNED BY {t_invoice}.id;
CREATE TABLE {t_invoice_line} (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 5000) PRIMARY KEY,
  invoice_id int NOT NULL REFERENCES {t_invoice}, qty int NOT NULL CHECK (qty > 0));
CREATE TABLE {t_line_tax} (line_id bigint NOT NULL REFERENCES {t_invoice_line}, rate numeric(5, 2) NOT NULL,
  PRIMARY KEY (line_id, rate));
""", "invoice", "invoice_line", "line_tax")

    def cycles(self) -> None:
        self.add("""
CREATE TABLE {t_ns} (id serial PRIMARY KEY, pr int UNIQUE);
CREATE TABLE {t_pr} (id serial PRIMARY KEY, ns int NOT NULL REFERENCES {t_ns});
ALTER TABLE {t_ns} ADD FOREIGN KEY (pr) REFERENCES {t_pr};
CREATE TABLE {t_team} (id serial PRIMARY KEY, name text NOT NULL, lead_id int);
CREATE TABLE {t_member} (id serial PRIMARY KEY, team_id int NOT NULL REFERENCES {t_team},
  partner_id int NOT NULL REFERENCES {t_partner});
ALTER TABLE {t_team} ADD FOREIGN KEY (lead_id) REFERENCES {t_member};
""", "ns", "pr", "team", "member")

    def sql(self) -> str:
        return "\n".join(self.statements)


def build(modules: int = MODULES, seed: int = 13) -> SyntheticSchema:
    """The schema of *modules* modules (59 tables each), the same text for the same arguments."""
    rng = random.Random(seed)
    schema = SyntheticSchema("")
    parts = ["CREATE EXTENSION IF NOT EXISTS btree_gist;"]
    parts += [f"CREATE SCHEMA IF NOT EXISTS {name};" for name in SCHEMAS if name != "public"]
    previous = None
    for index in range(modules):
        module = _Module(index, rng, previous)
        module.build()
        parts.append(module.sql())
        schema.tables += module.tables
        schema.caps.update(module.caps)
        previous = module.t("partner")
    schema.sql = "\n".join(parts) + "\n"
    return schema


if __name__ == "__main__":
    print(build(int(sys.argv[1]) if len(sys.argv) > 1 else MODULES).sql)
