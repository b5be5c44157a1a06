-- The Meridian Observatories consortium: observing cycles 2022A to 2023B.

CREATE TABLE sites (
    site_id        INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    country        TEXT NOT NULL,
    altitude_m     INTEGER NOT NULL,
    latitude_deg   REAL NOT NULL,
    longitude_deg  REAL NOT NULL
);

CREATE TABLE telescopes (
    telescope_id   INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    site_id        INTEGER NOT NULL REFERENCES sites(site_id),
    aperture_m     REAL NOT NULL,          -- primary mirror diameter in metres
    mount_type     TEXT NOT NULL,          -- 'alt-az' or 'equatorial'
    first_light    TEXT                    -- ISO date; NULL when not documented
);

CREATE TABLE instruments (
    instrument_id  INTEGER PRIMARY KEY,
    telescope_id   INTEGER NOT NULL REFERENCES telescopes(telescope_id),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,          -- 'imager', 'spectrograph', 'photometer'
    min_wavelength_nm REAL NOT NULL,
    max_wavelength_nm REAL NOT NULL,
    retired        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE astronomers (
    astronomer_id  INTEGER PRIMARY KEY,
    full_name      TEXT NOT NULL,
    institution    TEXT NOT NULL,
    country        TEXT NOT NULL,
    email          TEXT,                   -- NULL when not shared
    career_stage   TEXT NOT NULL           -- 'student', 'postdoc', 'faculty', 'staff'
);

CREATE TABLE proposals (
    proposal_id    INTEGER PRIMARY KEY,
    code           TEXT NOT NULL UNIQUE,   -- e.g. '2022A-017'
    cycle          TEXT NOT NULL,          -- '2022A', '2022B', '2023A', '2023B'
    pi_id          INTEGER NOT NULL REFERENCES astronomers(astronomer_id),
    title          TEXT NOT NULL,
    science_area   TEXT NOT NULL,
    requested_hours REAL NOT NULL,
    awarded_hours  REAL,                   -- NULL unless the proposal was accepted
    status         TEXT NOT NULL,          -- 'accepted', 'rejected', 'withdrawn'
    submitted_on   TEXT NOT NULL           -- ISO date
);

-- Co-investigators of each proposal (the PI is not repeated here).
CREATE TABLE proposal_members (
    proposal_id    INTEGER NOT NULL REFERENCES proposals(proposal_id),
    astronomer_id  INTEGER NOT NULL REFERENCES astronomers(astronomer_id),
    PRIMARY KEY (proposal_id, astronomer_id)
);

CREATE TABLE targets (
    target_id      INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    object_type    TEXT NOT NULL,          -- 'galaxy', 'star', 'nebula', 'star cluster', 'quasar', 'exoplanet host'
    ra_deg         REAL NOT NULL,
    dec_deg        REAL NOT NULL,
    magnitude      REAL,                   -- apparent V magnitude; NULL when unknown
    constellation  TEXT NOT NULL
);

CREATE TABLE observations (
    observation_id INTEGER PRIMARY KEY,
    proposal_id    INTEGER NOT NULL REFERENCES proposals(proposal_id),
    target_id      INTEGER NOT NULL REFERENCES targets(target_id),
    instrument_id  INTEGER NOT NULL REFERENCES instruments(instrument_id),
    obs_date       TEXT NOT NULL,          -- ISO date of the night (evening date)
    start_utc      TEXT NOT NULL,          -- 'HH:MM:SS'
    exposure_s     REAL NOT NULL,
    seeing_arcsec  REAL,                   -- NULL when the seeing monitor was down
    airmass        REAL NOT NULL,
    quality        TEXT NOT NULL           -- 'good', 'marginal', 'bad'
);

CREATE TABLE maintenance_log (
    log_id         INTEGER PRIMARY KEY,
    telescope_id   INTEGER NOT NULL REFERENCES telescopes(telescope_id),
    logged         TEXT NOT NULL,          -- legacy format 'MM/DD/YYYY' from the old ticket system
    category       TEXT NOT NULL,          -- 'mirror', 'dome', 'mount', 'instrument', 'cooling'
    downtime_hours REAL NOT NULL,
    technician     TEXT NOT NULL
);
