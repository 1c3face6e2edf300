import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Whether an activity is past, for contacts.last_contacted_at, is judged by the clock when the
 * trigger reads the activities, not by when its transaction began. The trigger waits for the
 * contact's lock first; a transaction that began earlier and waited behind one that logged an
 * activity "now" saw that activity as future (later than its own start), left it out, and
 * left no due row to settle it, so the contact kept an older time for good.
 */
export class LastContactedByTheClock1765200000000 implements MigrationInterface {
  name = 'LastContactedByTheClock1765200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(refreshLastContacted('clock_timestamp()'));
    // Contacts an earlier trigger left behind are settled by the catch-up job.
    await db.query(`
      INSERT INTO last_contacted_due (contact_id, due_at)
        SELECT c.id, now() FROM contacts c
         WHERE c.last_contacted_at IS DISTINCT FROM (SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = c.id AND a.occurred_at <= now())
        ON CONFLICT DO NOTHING`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(refreshLastContacted('now()'));
  }
}

/** The trigger function of 1764800000000-LastContactedAccuracy, judging "past" by `clock`. */
function refreshLastContacted(clock: 'clock_timestamp()' | 'now()'): string {
  return `
    CREATE OR REPLACE FUNCTION refresh_last_contacted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      affected uuid[];
      current timestamptz;
    BEGIN
      IF TG_OP = 'INSERT' THEN affected := ARRAY[NEW.contact_id];
      ELSIF TG_OP = 'DELETE' THEN affected := ARRAY[OLD.contact_id];
      ELSE affected := ARRAY[NEW.contact_id, OLD.contact_id];
      END IF;
      -- Lock before reading the activities; in id order, as a move locks two contacts.
      PERFORM 1 FROM contacts WHERE id = ANY(affected) ORDER BY id FOR NO KEY UPDATE;
      current := ${clock};
      -- Written even when unchanged: a new row version is what makes a concurrent REPEATABLE READ writer fail instead of using an old snapshot.
      UPDATE contacts c
         SET last_contacted_at = (SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = c.id AND a.occurred_at <= current)
       WHERE c.id = ANY(affected);
      IF TG_OP <> 'DELETE' AND NEW.occurred_at > current THEN
        INSERT INTO last_contacted_due (contact_id, due_at) VALUES (NEW.contact_id, NEW.occurred_at) ON CONFLICT DO NOTHING;
      END IF;
      RETURN NULL;
    END $$;`;
}
