/** The VHT trajectory types a case can have (see ../shared/domain). */
export const TRAJECTORIES = [
  'k-vht',
  'vht-voorzorg',
  'lokale-teams',
  'jeugdhulp-ggz',
  'verstandelijke-beperkingen',
  'communicatieve-beperkingen',
  'gehechtheid',
  'complexe-problemen',
] as const;

const trajectoryList = TRAJECTORIES.map((t) => `'${t}'`).join(', ');

/** Numbered catalogue migrations; each runs once, in order, in a transaction. Never edit a shipped one. */
export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'initial catalogue',
    sql: `
      CREATE TABLE cases (
        code TEXT PRIMARY KEY,
        trajectory TEXT CHECK (trajectory IS NULL OR trajectory IN (${trajectoryList})),
        consent_recording INTEGER NOT NULL DEFAULT 1,
        consent_review INTEGER NOT NULL DEFAULT 0,
        consent_supervision INTEGER NOT NULL DEFAULT 0,
        consent_training INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE visits (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_code TEXT NOT NULL REFERENCES cases(code),
        day TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        UNIQUE (case_code, day)
      );
      CREATE TABLE clips (
        id TEXT PRIMARY KEY,
        case_code TEXT REFERENCES cases(code),
        visit_id INTEGER REFERENCES visits(id),
        state TEXT NOT NULL CHECK (state IN ('recording', 'complete', 'recovered')),
        created_at INTEGER NOT NULL,
        requested_at INTEGER NOT NULL,
        origin_ms INTEGER,
        stopped_at INTEGER,
        pre_roll_ms INTEGER NOT NULL,
        stop_reason TEXT
      );
      CREATE INDEX clips_case ON clips(case_code, created_at);
      CREATE INDEX clips_created ON clips(created_at);
      CREATE TABLE segments (
        clip_id TEXT NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        discontinuity INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (clip_id, seq)
      );
      CREATE TABLE markers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        clip_id TEXT NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
        offset_ms INTEGER NOT NULL,
        label TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX markers_clip ON markers(clip_id, offset_ms);
      CREATE TABLE audit_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        type TEXT NOT NULL,
        clip_id TEXT,
        details TEXT NOT NULL DEFAULT '{}',
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'consent snapshots, upload confirmation and deletion requests',
    sql: `
      ALTER TABLE clips ADD COLUMN consent TEXT;
      ALTER TABLE clips ADD COLUMN purposes TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE clips ADD COLUMN uploaded_at INTEGER;
      ALTER TABLE clips ADD COLUMN delete_requested_at INTEGER;
      ALTER TABLE clips ADD COLUMN delete_reason TEXT;
      ALTER TABLE cases ADD COLUMN consent_updated_at INTEGER;
    `,
  },
  {
    version: 3,
    name: 'sync queue: confirmed objects per target, pending manifests and audit exports',
    sql: `
      CREATE TABLE sync_objects (
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        clip_id TEXT REFERENCES clips(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('segment', 'manifest')),
        seq INTEGER,
        sha256 TEXT NOT NULL,
        md5 TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        confirmed_at INTEGER NOT NULL,
        PRIMARY KEY (target, key)
      );
      CREATE INDEX sync_objects_clip ON sync_objects(clip_id);
      CREATE TABLE sync_manifests (
        clip_id TEXT PRIMARY KEY REFERENCES clips(id) ON DELETE CASCADE,
        source_sha256 TEXT NOT NULL,
        body BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        md5 TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE sync_audit_exports (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        from_event INTEGER NOT NULL,
        upto_event INTEGER NOT NULL,
        upto_hash TEXT NOT NULL,
        body BLOB,
        sha256 TEXT NOT NULL,
        md5 TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        confirmed_at INTEGER,
        UNIQUE (target, key)
      );
    `,
  },
  {
    version: 4,
    name: 'stills (JPEG frames taken while reviewing, encrypted like segments); sync objects may be stills',
    sql: `
      CREATE TABLE stills (
        clip_id TEXT NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
        id INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (clip_id, id)
      );
      CREATE TABLE sync_objects_v4 (
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        clip_id TEXT REFERENCES clips(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('segment', 'manifest', 'still')),
        seq INTEGER,
        sha256 TEXT NOT NULL,
        md5 TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        confirmed_at INTEGER NOT NULL,
        PRIMARY KEY (target, key)
      );
      INSERT INTO sync_objects_v4 SELECT target, key, clip_id, kind, seq, sha256, md5, bytes, confirmed_at FROM sync_objects;
      DROP TABLE sync_objects;
      ALTER TABLE sync_objects_v4 RENAME TO sync_objects;
      CREATE INDEX sync_objects_clip ON sync_objects(clip_id);
    `,
  },
  {
    version: 5,
    name: 'clip totals (duration, segments, bytes) kept by triggers: the library lists a page without summing segments',
    sql: `
      ALTER TABLE clips ADD COLUMN total_duration_ms INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE clips ADD COLUMN segment_count INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE clips ADD COLUMN total_bytes INTEGER NOT NULL DEFAULT 0;
      UPDATE clips SET
        total_duration_ms = COALESCE((SELECT SUM(duration_ms) FROM segments s WHERE s.clip_id = clips.id), 0),
        segment_count = (SELECT COUNT(*) FROM segments s WHERE s.clip_id = clips.id),
        total_bytes = COALESCE((SELECT SUM(bytes) FROM segments s WHERE s.clip_id = clips.id), 0);
      CREATE TRIGGER segments_totals_insert AFTER INSERT ON segments BEGIN
        UPDATE clips SET total_duration_ms = total_duration_ms + NEW.duration_ms, segment_count = segment_count + 1,
          total_bytes = total_bytes + NEW.bytes WHERE id = NEW.clip_id;
      END;
      CREATE TRIGGER segments_totals_delete AFTER DELETE ON segments BEGIN
        UPDATE clips SET total_duration_ms = total_duration_ms - OLD.duration_ms, segment_count = segment_count - 1,
          total_bytes = total_bytes - OLD.bytes WHERE id = OLD.clip_id;
      END;
      CREATE TRIGGER segments_totals_update AFTER UPDATE OF clip_id, duration_ms, bytes ON segments BEGIN
        UPDATE clips SET total_duration_ms = total_duration_ms - OLD.duration_ms, segment_count = segment_count - 1,
          total_bytes = total_bytes - OLD.bytes WHERE id = OLD.clip_id;
        UPDATE clips SET total_duration_ms = total_duration_ms + NEW.duration_ms, segment_count = segment_count + 1,
          total_bytes = total_bytes + NEW.bytes WHERE id = NEW.clip_id;
      END;
    `,
  },
  {
    version: 6,
    name: 'issue 13: a case can be closed (trajectory ended); visits get a global id (random, the same on every kit and at the office)',
    sql: `
      ALTER TABLE cases ADD COLUMN closed_at INTEGER;
      ALTER TABLE visits ADD COLUMN uid TEXT;
      UPDATE visits SET uid = lower(hex(randomblob(8))) WHERE uid IS NULL;
      CREATE UNIQUE INDEX visits_uid ON visits(uid);
      CREATE TRIGGER visits_uid_insert AFTER INSERT ON visits WHEN NEW.uid IS NULL BEGIN
        UPDATE visits SET uid = lower(hex(randomblob(8))) WHERE id = NEW.id;
      END;
    `,
  },
  {
    version: 7,
    name: 'issue 19: fragments, kept stills, reviews and their items; raw clips erased while their fragments live on',
    // No free text here: notes and captions are files encrypted to [org, content key]. A fragment or
    // kept still names its source clip without a foreign key: it outlives the clip.
    sql: `
      CREATE TABLE fragments (
        id TEXT PRIMARY KEY,
        clip_id TEXT NOT NULL,
        case_code TEXT NOT NULL REFERENCES cases(code),
        visit_id INTEGER,
        clip_created_at INTEGER NOT NULL,
        in_ms INTEGER NOT NULL,
        out_ms INTEGER NOT NULL CHECK (out_ms > in_ms),
        playlist_start_ms INTEGER NOT NULL,
        playlist_duration_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        label TEXT,
        has_note INTEGER NOT NULL DEFAULT 0,
        consent TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        confirmed_at INTEGER,
        confirmed_version INTEGER,
        delete_requested_at INTEGER
      );
      CREATE INDEX fragments_clip ON fragments(clip_id, in_ms);
      CREATE INDEX fragments_case ON fragments(case_code);
      CREATE TABLE kept_stills (
        id TEXT PRIMARY KEY,
        clip_id TEXT NOT NULL,
        still_n INTEGER NOT NULL,
        case_code TEXT NOT NULL REFERENCES cases(code),
        visit_id INTEGER,
        clip_created_at INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        has_caption INTEGER NOT NULL DEFAULT 0,
        consent TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        confirmed_at INTEGER,
        confirmed_version INTEGER,
        delete_requested_at INTEGER
      );
      CREATE INDEX kept_stills_clip ON kept_stills(clip_id);
      CREATE TABLE reviews (
        id TEXT PRIMARY KEY,
        case_code TEXT NOT NULL REFERENCES cases(code),
        planned_for TEXT,
        planned_visit_uid TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        held_at INTEGER,
        confirmed_at INTEGER,
        confirmed_version INTEGER
      );
      CREATE INDEX reviews_case ON reviews(case_code, created_at);
      CREATE TABLE review_items (
        review_id TEXT NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('fragment', 'still')),
        ref_id TEXT NOT NULL,
        PRIMARY KEY (review_id, position)
      );
      CREATE INDEX review_items_ref ON review_items(kind, ref_id);
      CREATE TABLE review_talks (
        clip_id TEXT PRIMARY KEY REFERENCES clips(id) ON DELETE CASCADE,
        review_id TEXT NOT NULL,
        started_at INTEGER NOT NULL
      );
      CREATE TABLE clip_erasures (
        clip_id TEXT PRIMARY KEY,
        case_code TEXT,
        visit_id INTEGER,
        created_at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        uploaded_at INTEGER,
        erased_at INTEGER NOT NULL,
        rule TEXT NOT NULL
      );
    `,
  },
  {
    version: 8,
    name: "issue 20: a case's trainers (the kit where a case is made adds its holder; a one-PIN kit's cases are T-001's); every audit entry names its trainer",
    sql: `
      CREATE TABLE case_trainers (
        case_code TEXT NOT NULL REFERENCES cases(code) ON DELETE CASCADE,
        trainer_id TEXT NOT NULL CHECK (trainer_id GLOB 'T-[0-9][0-9][0-9]*'),
        added_at INTEGER NOT NULL,
        PRIMARY KEY (case_code, trainer_id)
      );
      CREATE INDEX case_trainers_trainer ON case_trainers(trainer_id, case_code);
      INSERT INTO case_trainers (case_code, trainer_id, added_at) SELECT code, 'T-001', created_at FROM cases;
      ALTER TABLE audit_events ADD COLUMN trainer_id TEXT;
    `,
  },
  {
    version: 9,
    name: "issue 21: case tags (the name of a case in the organisation's store), erasure notices read from the office, case index entries confirmed",
    sql: `
      ALTER TABLE cases ADD COLUMN tag TEXT;
      CREATE INDEX cases_tag ON cases(tag);
      CREATE TABLE erasure_notices (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        case_tag TEXT NOT NULL,
        scope TEXT NOT NULL,
        read_at INTEGER NOT NULL,
        applied_at INTEGER,
        PRIMARY KEY (source, key)
      );
      CREATE INDEX erasure_notices_tag ON erasure_notices(case_tag);
      CREATE TABLE case_index_objects (
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        clip_id TEXT,
        confirmed_at INTEGER NOT NULL,
        PRIMARY KEY (target, key)
      );
    `,
  },
];
