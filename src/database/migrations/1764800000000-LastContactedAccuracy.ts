import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Keeps contacts.last_contacted_at right under concurrent activity writes and once a
 * future-dated activity's time has passed.
 *
 * Concurrency: the trigger used to compute max(occurred_at) in the same statement that
 * updates the contact. That statement's snapshot is taken before it waits for the contact's
 * row lock, so a concurrent transaction's activity change, committed while it waited, was
 * overwritten with a value computed without it. The trigger now locks the contact rows first
 * and computes in a later statement: in READ COMMITTED each statement of a plpgsql function
 * takes a new snapshot, which then includes whatever the previous lock holder committed. (In
 * REPEATABLE READ or SERIALIZABLE, the lock fails with a serialization error instead, as the
 * holder always wrote the contact row.)
 *
 * Future activities (a scheduled call) still do not count while they are in the future. Each
 * write of one leaves a row in last_contacted_due; catch_up_last_contacted(), run
 * periodically by the `contacts.last-contacted` job, recomputes the contacts whose due time
 * has come. Its cost follows the number of activities falling due, not the number of contacts.
 */
export class LastContactedAccuracy1764800000000 implements MigrationInterface {
  name = 'LastContactedAccuracy1764800000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      -- One row per contact and future activity time; stale rows (activity since deleted or moved) only cost a recompute.
      CREATE TABLE last_contacted_due (
        contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        due_at timestamptz NOT NULL,
        PRIMARY KEY (contact_id, due_at)
      );
      CREATE INDEX last_contacted_due_at_idx ON last_contacted_due (due_at);

      CREATE OR REPLACE FUNCTION refresh_last_contacted() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        affected uuid[];
      BEGIN
        IF TG_OP = 'INSERT' THEN affected := ARRAY[NEW.contact_id];
        ELSIF TG_OP = 'DELETE' THEN affected := ARRAY[OLD.contact_id];
        ELSE affected := ARRAY[NEW.contact_id, OLD.contact_id];
        END IF;
        -- Lock before reading the activities (see the migration's comment); in id order, as a move locks two contacts.
        PERFORM 1 FROM contacts WHERE id = ANY(affected) ORDER BY id FOR NO KEY UPDATE;
        -- Written even when unchanged: a new row version is what makes a concurrent REPEATABLE READ writer fail instead of using an old snapshot.
        UPDATE contacts c
           SET last_contacted_at = (SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = c.id AND a.occurred_at <= now())
         WHERE c.id = ANY(affected);
        IF TG_OP <> 'DELETE' AND NEW.occurred_at > now() THEN
          INSERT INTO last_contacted_due (contact_id, due_at) VALUES (NEW.contact_id, NEW.occurred_at) ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
      END $$;

      -- Settles due rows, oldest first, for the contacts of at most batch_size of them; returns how many rows it settled.
      CREATE FUNCTION catch_up_last_contacted(batch_size integer) RETURNS integer LANGUAGE plpgsql AS $$
      DECLARE
        locked uuid[];
        settled integer;
      BEGIN
        -- Contacts another transaction holds keep their due rows for the next pass: waiting here could
        -- deadlock with a transaction that locks several contacts in another order.
        SELECT coalesce(array_agg(s.id), '{}') INTO locked
          FROM (SELECT c.id FROM contacts c
                 WHERE c.id IN (SELECT d.contact_id FROM last_contacted_due d WHERE d.due_at <= now() ORDER BY d.due_at LIMIT batch_size)
                 ORDER BY c.id
                   FOR NO KEY UPDATE SKIP LOCKED) s;
        IF cardinality(locked) = 0 THEN RETURN 0; END IF;
        UPDATE contacts c
           SET last_contacted_at = l.latest
          FROM (SELECT x.id, (SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = x.id AND a.occurred_at <= now()) AS latest
                  FROM unnest(locked) AS x(id)) l
         WHERE c.id = l.id AND c.last_contacted_at IS DISTINCT FROM l.latest;
        DELETE FROM last_contacted_due WHERE contact_id = ANY(locked) AND due_at <= now();
        GET DIAGNOSTICS settled = ROW_COUNT;
        RETURN settled;
      END $$;

      -- Activities already in the future, and contacts whose stored time is already wrong (an activity
      -- logged ahead whose time has passed, or an update lost to the race), are settled by the job.
      INSERT INTO last_contacted_due (contact_id, due_at)
        SELECT DISTINCT contact_id, occurred_at FROM activities WHERE occurred_at > now();
      INSERT INTO last_contacted_due (contact_id, due_at)
        SELECT c.id, now() FROM contacts c
         WHERE c.last_contacted_at IS DISTINCT FROM (SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = c.id AND a.occurred_at <= now())
        ON CONFLICT DO NOTHING;
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE OR REPLACE FUNCTION refresh_last_contacted() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        affected uuid[];
      BEGIN
        IF TG_OP = 'INSERT' THEN affected := ARRAY[NEW.contact_id];
        ELSIF TG_OP = 'DELETE' THEN affected := ARRAY[OLD.contact_id];
        ELSE affected := ARRAY[NEW.contact_id, OLD.contact_id];
        END IF;
        UPDATE contacts c
           SET last_contacted_at = (SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = c.id AND a.occurred_at <= now())
         WHERE c.id = ANY(affected);
        RETURN NULL;
      END $$;
      DROP FUNCTION IF EXISTS catch_up_last_contacted(integer);
      DROP TABLE IF EXISTS last_contacted_due;
    `);
  }
}
