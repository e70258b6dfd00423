-- The Cruddur schema: activities with their replies, the signed-in user's notifications,
-- direct messages grouped by conversation. Times are timestamptz at millisecond precision
-- (the API's ISO times); feeds page on (created_at, uuid), newest first.
CREATE TABLE activities (
  uuid uuid PRIMARY KEY,
  handle text NOT NULL,
  message text NOT NULL,
  likes_count integer NOT NULL DEFAULT 0,
  reposts_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX activities_feed ON activities (created_at DESC, uuid DESC);
CREATE INDEX activities_by_handle ON activities (handle, created_at DESC, uuid DESC);
CREATE INDEX activities_expiry ON activities (expires_at);

CREATE TABLE replies (
  seq bigserial PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE,
  activity_uuid uuid NOT NULL REFERENCES activities (uuid) ON DELETE CASCADE,
  handle text NOT NULL,
  message text NOT NULL,
  likes_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
);
CREATE INDEX replies_by_activity ON replies (activity_uuid, created_at, seq);

-- The sample's notification shares its uuid (and its reply) with a home-feed post, so
-- notifications are their own rows, replies embedded as the sample shows them.
CREATE TABLE notifications (
  recipient_handle text NOT NULL,
  uuid uuid NOT NULL,
  handle text NOT NULL,
  message text NOT NULL,
  likes_count integer NOT NULL DEFAULT 0,
  reposts_count integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  replies jsonb NOT NULL DEFAULT '[]',
  PRIMARY KEY (recipient_handle, uuid)
);

-- member_a/member_b are ordered by the application (JavaScript string order), so one pair of
-- users has exactly one group whatever the database's collation.
CREATE TABLE message_groups (
  uuid uuid PRIMARY KEY,
  member_a text NOT NULL,
  member_b text NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (member_a, member_b)
);
CREATE INDEX message_groups_by_member_b ON message_groups (member_b);

CREATE TABLE messages (
  seq bigserial PRIMARY KEY,
  uuid uuid NOT NULL UNIQUE,
  message_group_uuid uuid NOT NULL REFERENCES message_groups (uuid) ON DELETE CASCADE,
  handle text NOT NULL,
  message text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX messages_by_group ON messages (message_group_uuid, created_at, seq);

-- One-time facts about this database, e.g. when the sample data was inserted.
CREATE TABLE app_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);
