import journal from './meta/_journal.json';
import m0000 from './0000_init.sql';
import m0001 from './0001_observability.sql';
import m0002 from './0002_replay.sql';
import m0003 from './0003_lifetime.sql';
import m0004 from './0004_client_event_ids.sql';
import m0005 from './0005_idempotency_keys.sql';
import m0006 from './0006_alert_outbox.sql';
import m0007 from './0007_owed_stops.sql';
import m0008 from './0008_liveness.sql';
import m0009 from './0009_town_overrides.sql';
import m0010 from './0010_steering.sql';
import m0011 from './0011_cost_meters.sql';
import m0012 from './0012_snapshot_compression.sql';
import m0013 from './0013_incremental_snapshots.sql';
import m0014 from './0014_flood_bounds.sql';
import m0015 from './0015_counter_totals.sql';
import m0016 from './0016_plain_row_ids.sql';

  export default {
    journal,
    migrations: {
      m0000,
m0001,
m0002,
m0003,
m0004,
m0005,
m0006,
m0007,
m0008,
m0009,
m0010,
m0011,
m0012,
m0013,
m0014,
m0015,
m0016
    }
  }
  