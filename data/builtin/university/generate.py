"""Rows for the university database: staff, courses, sections, students, grades and awards."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3

DEPARTMENTS = [
    # name, building, budget, course code prefix, course subjects
    (
        "Computer Science",
        "Turing Hall",
        2_450_000.0,
        "CS",
        [
            "Programming",
            "Data Structures",
            "Algorithms",
            "Databases",
            "Operating Systems",
            "Machine Learning",
            "Networks",
            "Compilers",
        ],
    ),
    (
        "Mathematics",
        "Noether Building",
        1_320_000.0,
        "MATH",
        ["Calculus", "Linear Algebra", "Probability", "Real Analysis", "Number Theory", "Topology"],
    ),
    (
        "Physics",
        "Meitner Labs",
        1_980_000.0,
        "PHYS",
        ["Mechanics", "Electromagnetism", "Quantum Physics", "Thermodynamics", "Optics"],
    ),
    (
        "History",
        "Bede House",
        640_000.0,
        "HIST",
        ["Ancient Rome", "Medieval Europe", "Modern Japan", "The Cold War", "Economic History"],
    ),
    (
        "Economics",
        "Keynes Wing",
        1_100_000.0,
        "ECON",
        ["Microeconomics", "Macroeconomics", "Econometrics", "Game Theory", "Public Finance"],
    ),
    (
        "Biology",
        "Franklin Centre",
        2_050_000.0,
        "BIO",
        ["Cell Biology", "Genetics", "Ecology", "Microbiology", "Evolution", "Neuroscience"],
    ),
    ("Linguistics", "Bede House", 480_000.0, "LING", ["Phonetics", "Syntax", "Semantics", "Sociolinguistics"]),
]
FIRST_NAMES = [
    "Ada",
    "Ben",
    "Carmen",
    "Dev",
    "Elif",
    "Finn",
    "Gia",
    "Hiro",
    "Ingrid",
    "Jamal",
    "Kira",
    "Luis",
    "Maeve",
    "Nico",
    "Opal",
    "Pedro",
    "Quinn",
    "Rhea",
    "Soren",
    "Tara",
    "Uma",
    "Viktor",
    "Wren",
    "Yusuf",
]
LAST_NAMES = [
    "Alvarez",
    "Baptiste",
    "Chen",
    "Dubois",
    "Eze",
    "Fraser",
    "Grant",
    "Huang",
    "Iyer",
    "Jensen",
    "Khan",
    "Larsen",
    "Mensah",
    "Nakata",
    "O'Brien",
    "Park",
    "Ramos",
    "Singh",
    "Torres",
    "Ueda",
    "Volkov",
    "Wong",
]
COUNTRIES = ["United Kingdom"] * 8 + [
    "Ireland",
    "India",
    "China",
    "Nigeria",
    "Germany",
    "United States",
    "Brazil",
    "Canada",
]
RANKS = ["Lecturer", "Lecturer", "Associate Professor", "Professor"]
TERMS = ["Fall 2022", "Spring 2023", "Fall 2023", "Spring 2024", "Fall 2024"]
GRADES = [("A", 4.0), ("A", 4.0), ("B", 3.0), ("B", 3.0), ("B", 3.0), ("C", 2.0), ("C", 2.0), ("D", 1.0), ("F", 0.0)]
SCHOLARSHIPS = [
    ("Founders' Merit Award", 5000.0),
    ("Ada Lovelace Scholarship", 3500.0),
    ("International Excellence Grant", 4000.0),
    ("First Generation Bursary", 2500.0),
    ("Riverside Community Award", 1200.0),
]


def _insert_faculty(conn: sqlite3.Connection, rng: random.Random) -> tuple[list[list[int]], int]:
    """Departments, professors, courses and prerequisites; returns course ids by department."""
    courses_by_department: list[list[int]] = []
    course_id = 0
    professor_id = 0
    for department_id, (name, building, budget, prefix, subjects) in enumerate(DEPARTMENTS, 1):
        conn.execute("INSERT INTO departments VALUES (?, ?, ?, ?)", (department_id, name, building, budget))
        for _ in range(rng.randint(4, 8)):
            professor_id += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            hired = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randint(0, 10500))
            email = (
                f"{first[0].lower()}.{last.lower().replace(chr(39), '')}@uni.example" if rng.random() < 0.9 else None
            )
            conn.execute(
                "INSERT INTO professors VALUES (?, ?, ?, ?, ?, ?, ?)",
                (professor_id, first, last, department_id, rng.choice(RANKS), hired.isoformat(), email),
            )
        ids: list[int] = []
        for index, subject in enumerate(subjects):
            course_id += 1
            level = min(400, 100 * (1 + index * 4 // len(subjects)))
            code = f"{prefix}{level + rng.randint(1, 49):03d}"
            while conn.execute("SELECT 1 FROM courses WHERE code = ?", (code,)).fetchone():
                code = f"{prefix}{level + rng.randint(50, 99):03d}"
            conn.execute(
                "INSERT INTO courses VALUES (?, ?, ?, ?, ?, ?)",
                (course_id, code, subject, department_id, rng.choice([10, 15, 15, 20, 30]), level),
            )
            # Later courses in a department build on one or two earlier ones.
            if ids:
                for prerequisite in rng.sample(ids, min(len(ids), rng.choice([1, 1, 2]))):
                    conn.execute("INSERT INTO course_prerequisites VALUES (?, ?)", (course_id, prerequisite))
            ids.append(course_id)
        courses_by_department.append(ids)
    return courses_by_department, professor_id


def _insert_sections(
    conn: sqlite3.Connection, rng: random.Random, courses_by_department: list[list[int]]
) -> list[tuple[int, int, str]]:
    """Sections per term; returns (section_id, department_id, term)."""
    sections: list[tuple[int, int, str]] = []
    section_id = 0
    for department_id, course_ids in enumerate(courses_by_department, 1):
        staff = [
            int(r[0])
            for r in conn.execute(
                "SELECT professor_id FROM professors WHERE department_id = ? ORDER BY professor_id", (department_id,)
            )
        ]
        for course_id in course_ids:
            for term in TERMS:
                if rng.random() < 0.45:
                    continue
                section_id += 1
                teacher = rng.choice(staff) if rng.random() < 0.93 else None
                building = DEPARTMENTS[department_id - 1][1]
                room = f"{building.split()[0][:3].upper()}-{rng.randint(1, 3)}{rng.randint(1, 20):02d}"
                conn.execute(
                    "INSERT INTO sections VALUES (?, ?, ?, ?, ?, ?)",
                    (section_id, course_id, term, teacher, room, rng.choice([30, 40, 60, 80, 120])),
                )
                sections.append((section_id, department_id, term))
    return sections


def _spelled_country(rng: random.Random) -> str:
    # Applicants typed their country freely; only the case varies, never the name.
    country = rng.choice(COUNTRIES)
    if country == "United Kingdom":
        return rng.choice(["United Kingdom", "United Kingdom", "united kingdom", "UNITED KINGDOM"])
    return country


def _term_start(term: str) -> dt.date:
    season, year = term.split()
    return dt.date(int(year), 9, 1) if season == "Fall" else dt.date(int(year), 1, 15)


def _insert_students(
    conn: sqlite3.Connection, rng: random.Random, professors: int, sections: list[tuple[int, int, str]]
) -> None:
    for student_id in range(1, 451):
        year = rng.choice([2020, 2021, 2022, 2023, 2024])
        born = dt.date(year - 18, 1, 1) - dt.timedelta(days=rng.randint(0, 2200))
        major = rng.randint(1, len(DEPARTMENTS)) if rng.random() < 0.9 else None
        advisor = rng.randint(1, professors) if rng.random() < 0.85 else None
        conn.execute(
            "INSERT INTO students VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                student_id,
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
                born.isoformat(),
                year,
                major,
                advisor,
                _spelled_country(rng),
            ),
        )
        open_sections = [s for s in sections if int(s[2].split()[1]) >= year]
        for section_id, _department_id, term in rng.sample(open_sections, min(len(open_sections), rng.randint(2, 9))):
            enrolled = _term_start(term) - dt.timedelta(days=rng.randint(3, 40))
            grade, points = rng.choice(GRADES) if term != "Fall 2024" else (None, None)
            conn.execute(
                "INSERT INTO enrolments VALUES (?, ?, ?, ?, ?)",
                (student_id, section_id, enrolled.isoformat(), grade, points),
            )


def _insert_scholarships(conn: sqlite3.Connection, rng: random.Random) -> None:
    conn.executemany("INSERT INTO scholarships VALUES (?, ?, ?)", [(i, *s) for i, s in enumerate(SCHOLARSHIPS, 1)])
    for scholarship_id in range(1, len(SCHOLARSHIPS) + 1):
        for award_year in (2022, 2023, 2024):
            for student_id in rng.sample(range(1, 451), rng.randint(3, 9)):
                conn.execute(
                    "INSERT INTO scholarship_awards VALUES (?, ?, ?)", (scholarship_id, student_id, award_year)
                )


def populate(conn: sqlite3.Connection, rng: random.Random) -> None:
    """Insert every row of the university; all randomness comes from ``rng``."""
    courses_by_department, professors = _insert_faculty(conn, rng)
    sections = _insert_sections(conn, rng, courses_by_department)
    _insert_students(conn, rng, professors, sections)
    _insert_scholarships(conn, rng)
