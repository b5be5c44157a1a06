-- A university: departments, staff, courses, sections, students, enrolments and scholarships.

CREATE TABLE departments (
    department_id INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    building      TEXT NOT NULL,
    budget        REAL NOT NULL
);

CREATE TABLE professors (
    professor_id  INTEGER PRIMARY KEY,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (department_id),
    rank          TEXT NOT NULL,    -- Lecturer, Associate Professor or Professor
    hire_date     TEXT NOT NULL,    -- YYYY-MM-DD
    email         TEXT
);

CREATE TABLE courses (
    course_id     INTEGER PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,  -- e.g. CS201
    title         TEXT NOT NULL,
    department_id INTEGER NOT NULL REFERENCES departments (department_id),
    credits       INTEGER NOT NULL,
    level         INTEGER NOT NULL        -- 100, 200, 300 or 400
);

CREATE TABLE course_prerequisites (
    course_id       INTEGER NOT NULL REFERENCES courses (course_id),
    prerequisite_id INTEGER NOT NULL REFERENCES courses (course_id),
    PRIMARY KEY (course_id, prerequisite_id)
);

CREATE TABLE sections (
    section_id    INTEGER PRIMARY KEY,
    course_id     INTEGER NOT NULL REFERENCES courses (course_id),
    term          TEXT NOT NULL,     -- 'Fall 2023', 'Spring 2024', ...
    professor_id  INTEGER REFERENCES professors (professor_id),  -- NULL: instructor not yet assigned
    room          TEXT NOT NULL,
    capacity      INTEGER NOT NULL
);

CREATE TABLE students (
    student_id      INTEGER PRIMARY KEY,
    first_name      TEXT NOT NULL,
    last_name       TEXT NOT NULL,
    date_of_birth   TEXT NOT NULL,   -- YYYY-MM-DD
    enrolment_year  INTEGER NOT NULL,
    major_id        INTEGER REFERENCES departments (department_id),  -- NULL: undeclared
    advisor_id      INTEGER REFERENCES professors (professor_id),
    home_country    TEXT NOT NULL
);

CREATE TABLE enrolments (
    student_id    INTEGER NOT NULL REFERENCES students (student_id),
    section_id    INTEGER NOT NULL REFERENCES sections (section_id),
    enrolled_on   TEXT NOT NULL,     -- YYYY-MM-DD
    grade         TEXT,              -- A, B, C, D or F; NULL while in progress
    grade_points  REAL,              -- 4.0 for A down to 0.0 for F; NULL while in progress
    PRIMARY KEY (student_id, section_id)
);

CREATE TABLE scholarships (
    scholarship_id INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    annual_amount  REAL NOT NULL
);

CREATE TABLE scholarship_awards (
    scholarship_id INTEGER NOT NULL REFERENCES scholarships (scholarship_id),
    student_id     INTEGER NOT NULL REFERENCES students (student_id),
    award_year     INTEGER NOT NULL,
    PRIMARY KEY (scholarship_id, student_id, award_year)
);
