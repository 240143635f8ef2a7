-- lpkit schema. Every statement is idempotent: init-db runs it on existing
-- databases to create only what is missing.
-- Instants are integer microseconds since the Unix epoch, in UTC.

CREATE TABLE IF NOT EXISTS stores (
    store_pk INTEGER PRIMARY KEY,
    -- The id exactly as the exports write it (64-bit integers, UUIDs, ...).
    store_id TEXT NOT NULL UNIQUE,
    -- The zone name as imported, NULL when no timezone row named the store.
    timezone_name TEXT,
    -- The canonical IANA name matching timezone_name, NULL when none matches.
    timezone TEXT,
    onboarded_at_us INTEGER
);

-- Reports read stores in batches ordered by effective time zone; stores
-- without a known zone use America/Chicago (localtime.DEFAULT_TIMEZONE).
CREATE INDEX IF NOT EXISTS stores_by_report_timezone
    ON stores (COALESCE(timezone, 'America/Chicago'), store_id);

CREATE TABLE IF NOT EXISTS business_hours (
    store_pk INTEGER NOT NULL REFERENCES stores (store_pk),
    -- 0 = Monday ... 6 = Sunday.
    day_of_week INTEGER NOT NULL CHECK (day_of_week BETWEEN 0 AND 6),
    -- Local wall-clock times in microseconds after midnight. An end of
    -- 86400000000 is the end of the day; an end at or before the start runs
    -- past midnight into the next day.
    start_time_us INTEGER NOT NULL,
    end_time_us INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS business_hours_by_store ON business_hours (store_pk);

CREATE TABLE IF NOT EXISTS polls (
    store_pk INTEGER NOT NULL REFERENCES stores (store_pk),
    polled_at_us INTEGER NOT NULL,
    is_active INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    PRIMARY KEY (store_pk, polled_at_us)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS reports (
    report_id TEXT PRIMARY KEY,
    -- queued, running, complete or failed.
    status TEXT NOT NULL,
    pivot_us INTEGER NOT NULL,
    -- JSON object of the report options, such as {"window": "rolling"}.
    options TEXT NOT NULL DEFAULT '{}',
    created_at_us INTEGER NOT NULL,
    started_at_us INTEGER,
    finished_at_us INTEGER,
    stores_done INTEGER NOT NULL DEFAULT 0,
    stores_total INTEGER NOT NULL DEFAULT 0,
    row_count INTEGER,
    error TEXT,
    -- The process that runs the report, as "host:pid", for restart recovery.
    owner TEXT
);

CREATE INDEX IF NOT EXISTS reports_by_created ON reports (created_at_us);

CREATE TABLE IF NOT EXISTS imports (
    import_id INTEGER PRIMARY KEY,
    -- One id per import command, shared by the files it imported.
    run_id TEXT NOT NULL,
    file_path TEXT NOT NULL,
    file_kind TEXT NOT NULL,
    started_at_us INTEGER NOT NULL,
    finished_at_us INTEGER,
    rows_read INTEGER NOT NULL DEFAULT 0,
    rows_inserted INTEGER NOT NULL DEFAULT 0,
    rows_duplicate INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    rejects_path TEXT
);
