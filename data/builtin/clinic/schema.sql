-- An outpatient clinic: staff, patients, appointments, diagnoses, prescriptions and lab work.

CREATE TABLE departments (
    department_id  INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    floor          INTEGER NOT NULL
);

CREATE TABLE doctors (
    doctor_id      INTEGER PRIMARY KEY,
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    department_id  INTEGER NOT NULL REFERENCES departments (department_id),
    hire_date      TEXT NOT NULL,   -- YYYY-MM-DD
    annual_salary  REAL             -- NULL for visiting consultants paid per session
);

CREATE TABLE patients (
    patient_id         INTEGER PRIMARY KEY,
    first_name         TEXT NOT NULL,
    last_name          TEXT NOT NULL,
    sex                TEXT NOT NULL,  -- F or M
    date_of_birth      TEXT NOT NULL,  -- YYYY-MM-DD
    city               TEXT NOT NULL,
    insurance_provider TEXT,           -- NULL: self-paying
    blood_type         TEXT,
    registered_on      TEXT NOT NULL   -- YYYYMMDD, imported from the previous records system
);

CREATE TABLE appointments (
    appointment_id   INTEGER PRIMARY KEY,
    patient_id       INTEGER NOT NULL REFERENCES patients (patient_id),
    doctor_id        INTEGER NOT NULL REFERENCES doctors (doctor_id),
    appointment_date TEXT NOT NULL,    -- YYYY-MM-DD
    start_time       TEXT NOT NULL,    -- HH:MM
    status           TEXT NOT NULL,    -- completed, cancelled, no-show (case varies)
    fee              REAL NOT NULL
);

CREATE TABLE diagnoses (
    diagnosis_code TEXT PRIMARY KEY,
    description    TEXT NOT NULL,
    is_chronic     INTEGER NOT NULL    -- 1 for chronic conditions
);

CREATE TABLE appointment_diagnoses (
    appointment_id INTEGER NOT NULL REFERENCES appointments (appointment_id),
    diagnosis_code TEXT NOT NULL REFERENCES diagnoses (diagnosis_code),
    PRIMARY KEY (appointment_id, diagnosis_code)
);

CREATE TABLE medications (
    medication_id  INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,      -- the same drug is listed once per strength
    strength_mg    REAL NOT NULL,
    unit_price     REAL NOT NULL,
    prescription_only INTEGER NOT NULL
);

CREATE TABLE prescriptions (
    prescription_id INTEGER PRIMARY KEY,
    appointment_id  INTEGER NOT NULL REFERENCES appointments (appointment_id),
    medication_id   INTEGER NOT NULL REFERENCES medications (medication_id),
    daily_doses     INTEGER NOT NULL,
    duration_days   INTEGER NOT NULL,
    refills         INTEGER            -- NULL when the pharmacy did not record it
);

CREATE TABLE lab_results (
    lab_result_id  INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients (patient_id),
    test_name      TEXT NOT NULL,
    value          REAL NOT NULL,
    unit           TEXT NOT NULL,
    taken_on       TEXT NOT NULL       -- YYYY-MM-DD
);
