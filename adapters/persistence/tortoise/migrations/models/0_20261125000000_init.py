from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


_SQLITE = """
CREATE TABLE IF NOT EXISTS "setting" (
    "name" VARCHAR(100) NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL
) /* Small facts the service keeps about itself (e.g. that the dev demo was set up). */;
CREATE TABLE IF NOT EXISTS "workspace" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "agent" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "executor" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "workspace_id" CHAR(36) NOT NULL REFERENCES "workspace" ("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS "api_key" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "key_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMP NOT NULL,
    "workspace_id" CHAR(36) NOT NULL REFERENCES "workspace" ("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS "channel" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "kind" VARCHAR(32) NOT NULL,
    "settings" JSON NOT NULL,
    "secrets" JSON NOT NULL,
    "enabled" INT NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "agent_id" CHAR(36) NOT NULL REFERENCES "agent" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_channel_agent_i_44a764" UNIQUE ("agent_id", "kind")
);
CREATE TABLE IF NOT EXISTS "lead" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "platform" VARCHAR(32) NOT NULL,
    "contact" VARCHAR(128) NOT NULL,
    "name" VARCHAR(200),
    "first_seen_at" TIMESTAMP NOT NULL,
    "last_seen_at" TIMESTAMP NOT NULL,
    "message_count" INT NOT NULL,
    "agent_id" CHAR(36) NOT NULL REFERENCES "agent" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_lead_agent_i_8a057c" UNIQUE ("agent_id", "platform", "contact")
);
CREATE TABLE IF NOT EXISTS "session" (
    "id" VARCHAR(255) NOT NULL PRIMARY KEY,
    "channel" VARCHAR(32) NOT NULL,
    "contact" VARCHAR(128) NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "agent_id" CHAR(36) NOT NULL REFERENCES "agent" ("id") ON DELETE CASCADE,
    "lead_id" BIGINT NOT NULL REFERENCES "lead" ("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS "message" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "role" VARCHAR(16) NOT NULL,
    "content" TEXT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "pending" INT NOT NULL,
    "external_id" VARCHAR(128) UNIQUE,
    "reply_to_id" BIGINT,
    "attempt_started_at" TIMESTAMP,
    "error" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    "updated_at" TIMESTAMP NOT NULL,
    "session_id" VARCHAR(255) NOT NULL REFERENCES "session" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_message_session_4db671" ON "message" ("session_id", "id");
CREATE INDEX IF NOT EXISTS "idx_message_session_4bd0b3" ON "message" ("session_id", "pending", "id");
CREATE INDEX IF NOT EXISTS "idx_message_pending_ca8e3a" ON "message" ("pending", "session_id");
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);
"""

_POSTGRES = """
CREATE TABLE IF NOT EXISTS "setting" (
    "name" VARCHAR(100) NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL
);
COMMENT ON TABLE "setting" IS 'Small facts the service keeps about itself (e.g. that the dev demo was set up).';
CREATE TABLE IF NOT EXISTS "workspace" (
    "id" UUID NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS "agent" (
    "id" UUID NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "executor" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "workspace_id" UUID NOT NULL REFERENCES "workspace" ("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS "api_key" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "key_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "workspace_id" UUID NOT NULL REFERENCES "workspace" ("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS "channel" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "kind" VARCHAR(32) NOT NULL,
    "settings" JSONB NOT NULL,
    "secrets" JSONB NOT NULL,
    "enabled" BOOL NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "agent_id" UUID NOT NULL REFERENCES "agent" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_channel_agent_i_44a764" UNIQUE ("agent_id", "kind")
);
CREATE TABLE IF NOT EXISTS "lead" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "platform" VARCHAR(32) NOT NULL,
    "contact" VARCHAR(128) NOT NULL,
    "name" VARCHAR(200),
    "first_seen_at" TIMESTAMPTZ NOT NULL,
    "last_seen_at" TIMESTAMPTZ NOT NULL,
    "message_count" INT NOT NULL,
    "agent_id" UUID NOT NULL REFERENCES "agent" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_lead_agent_i_8a057c" UNIQUE ("agent_id", "platform", "contact")
);
CREATE TABLE IF NOT EXISTS "session" (
    "id" VARCHAR(255) NOT NULL PRIMARY KEY,
    "channel" VARCHAR(32) NOT NULL,
    "contact" VARCHAR(128) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "agent_id" UUID NOT NULL REFERENCES "agent" ("id") ON DELETE CASCADE,
    "lead_id" BIGINT NOT NULL REFERENCES "lead" ("id") ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS "message" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "role" VARCHAR(16) NOT NULL,
    "content" TEXT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "pending" BOOL NOT NULL,
    "external_id" VARCHAR(128) UNIQUE,
    "reply_to_id" BIGINT,
    "attempt_started_at" TIMESTAMPTZ,
    "error" TEXT,
    "created_at" TIMESTAMPTZ NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL,
    "session_id" VARCHAR(255) NOT NULL REFERENCES "session" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_message_session_4db671" ON "message" ("session_id", "id");
CREATE INDEX IF NOT EXISTS "idx_message_session_4bd0b3" ON "message" ("session_id", "pending", "id");
CREATE INDEX IF NOT EXISTS "idx_message_pending_ca8e3a" ON "message" ("pending", "session_id");
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);
"""


async def upgrade(db: BaseDBAsyncClient) -> str:
    # One history for both databases: the schema is written once per dialect.
    if db.schema_generator.DIALECT == "postgres":
        return _POSTGRES
    return _SQLITE


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXG1vmzoU/iuIT52UW7VJmnbT1ZWSNtty1zZXTXo3rZqQC06CAoaBaVft9r9fm1dDgI"
    "QQUuryYV17fI6Bxy88z7Hxb1E3FKjZh/05RFj8IPwWEdAh+SVe0BJEYJqRmRowuNdcTxC6"
    "3NvYAjKtZwY0GxKTAm3ZUk2sGohYkaNp1GjIxFFF88jkIPWnAyVszCFeQIsU3P0gZhUp8B"
    "e0gz/NpTRToabEblRV6LVdu4SfTNd2ezu6+Oh60svdS7KhOTqKvM0nvDBQ6O44qnJIY2gZ"
    "eRpoAQwV5jHoXfqPG5i8OyYGbDkwvFUlMihwBhyNgiH+OXOQTDEQ3CvRH92//Ftj3CTpej"
    "yVJsOpJIkFsJMNRHFXEaZA/X726o0Aca0ivcD55/7NQaf3zoXAsPHccgtduMRnNxBg4IW6"
    "oEcou/+v4Hy+AFY6zoF/Amlyo9tgHBgikKMOFsAXAFQBpKIOfkkaRHO8IH+2j45yMP63f+"
    "PCTLxcnA0yIrxxcu0Xtb0yineEL3ks2cGGtYrx35PxdTrGbEwCZ0WVsfCfoKk2foV458BL"
    "0aA167b9U2NRPbjqf0sCfn45HiT7Oq1gkABftiAFRwJ4Ff4LUoJVHaY3QTwy2Qh+6GHwC1"
    "9NMR1dDSfT/tU/sfa46E+HtKTtWp8S1oNeoo3CSoSvo+lngf4pfB9fD5PNFvpNv4v0ngDp"
    "+BIyHiWgsJgE5sAUa+ZHw1raJpChVOydkYzb5dujvs275mVB38ezZeq7IsRrFeSPhgXVOf"
    "oCn1yoR+RmAJLT3hQ+//jK1vU6wY2sETmwwGNIZVb6F0GBPDvE3iu2PznvXwxFF/B7IC8f"
    "gaVIGcjLC4CQz8/iwA/8yI9fbqAG3CfJxPzcq4UjxGPTgAaBUhKhS1IFr/DY0LZJvSURmn"
    "i18AQSHYBG22AGXmxIrhbpbT1pAYioJcW/Nr1SILNMlcyJYpoA80pauQrMVKWl71QbDTZC"
    "uIAEU9EKUfWnynLaq0pVMKe38Ef7uHvaPev0umctOrcQU2g5zXm9jq6nayQXaVFpAexFEd"
    "nFxuxGer0sxDHh1etuoLt63UzZRYsa4t8Q/4b4N8SfC+JfJSMJREAKJWH0QTYnkRmnnXKS"
    "uyjhvCTtK/5oSMpLkhTaBEUIiu/PYV64096AnnTamfSEFj0npBjG5PopUiw7KczGNEnhEk"
    "lhGxKOhwtiH4Y00JeAHiIKRMq8MjAMDQKUsRwSRSXQvydhVcEeWvaL+2A8vozhPhhNE2jf"
    "Xg2GNwfHbiMQJ9WjFcGUHqHtmMqWIige2YigWosglzUVFEBsTCN+8sVPyEpLCp9wx8XrBH"
    "Wt6GH7VJ0Ej5vTT1E7Qa4/W+pogUdVOsfUAJ4Zli56qGN6jVKyZ6DO34ryed9udzqn7aNO"
    "7+yke3p6cnYUSqDVojwtNBh9ou/O2Py9Xh+xTbepRmJjGp20gU4KxkQBjJkQDiE+bp9tgD"
    "HxygTZLYujvNctYP5MUU94K9kBNlMtG0s2hGgLJr4S3JDxWpNxDWzf1snYpqlr3dQ6tG3C"
    "5EgDOmn6IJOHrcStp2S7atmjailZyWR0I2kbScuPpG02Xr3oxqsrb5YVU4R/UNTK0/4641"
    "Tl1qu7oHvQK5GeRopjJhMihVbJlDKmwPFHkyWoZZbAMrRC0irw51G69jZRrklCxwjXXlp2"
    "IPU9NoW/Mno3E8IFxHl8evhtmr+AF9Lpy/H1p8A9uaqXWDvFADspL7LsHh1FcAF41X2amd"
    "sLrJAyUXtcIQ2m81e7QEqmCWghoKUqjewunQjbSRqsRrtxK8kxWtDUnggPSoU6j48kArfS"
    "ynXLOe6RmjCaD2Oom1giE7K13a6A9Bp2kKWqWfvwlKSClpX27XE2QwoDeMju75seNZ8dvI"
    "lB1WysehPN7CdXCrLDeBSHoqd9crLJIunJSfYiKS3LTVAzCbCSKWr+0qatRJI63uHqtPMq"
    "wD4lB8s0S3YOlukF9fn8NXvk73LE10gP7my8t3ISpcxXRRvv9IlCOJxlm81UrzPR0UiAN8"
    "ENmx0KOzmXLn54S+HkIBO0v000XGQGm80h6/rzDjaHJPv3DkDl7ICiJKbMgN5+v42/daPk"
    "fhtmlwgnYFe632bifZ4spmo9r6iVr/Uip3VaT5zoQNNIoYxtgWg6wYbWgypDYQmhaQvg3n"
    "CwoGIbajPhAB7OD4kTwK6nAh/IP90QHoFNwrDgmO8OxQSsVdRfQoW+7BGtNVKixxttzz/O"
    "2Z5/HGzPz1aiD0BzUuDOXjEJA7iQSPtYMlkhHy+TnopOokmZtGLH1GRPW7GTceqTpGrOye"
    "brnGw+J+Ema/IGsiYFJvuEBi1J4HnTn/H8k3cyaFmIwjNIecGoSr7Qh5YqL9LIgl+SyxRA"
    "5FMbmvBWvgKo7JS0B2ilr1NnEwMmhAvBUNliITvZmUUQ9t05RLca7pX1GUX2eWjZn1E056"
    "F9WHMe2ouK3+f/AZ+CAcc="
)
