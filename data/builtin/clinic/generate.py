"""Rows for the clinic database: staff, patients, appointments, prescriptions and lab results."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3

DEPARTMENTS = [
    ("General Practice", 1),
    ("Cardiology", 3),
    ("Dermatology", 2),
    ("Paediatrics", 1),
    ("Orthopaedics", 2),
    ("Neurology", 3),
    ("Endocrinology", 4),
    ("Respiratory Medicine", 4),
]

FIRST_NAMES_F = [
    "Alice",
    "Beatriz",
    "Chiara",
    "Dana",
    "Esme",
    "Fatima",
    "Gwen",
    "Hana",
    "Ines",
    "Julia",
    "Kemi",
    "Laila",
    "Mira",
    "Nora",
    "Olga",
    "Paula",
]
FIRST_NAMES_M = [
    "Adam",
    "Bruno",
    "Caleb",
    "Dmitri",
    "Emil",
    "Farid",
    "George",
    "Henrik",
    "Idris",
    "Jonas",
    "Kofi",
    "Luca",
    "Marek",
    "Nikhil",
    "Oscar",
    "Pavel",
]
LAST_NAMES = [
    "Abbott",
    "Bergstrom",
    "Chowdhury",
    "Duarte",
    "Eriksen",
    "Fontaine",
    "Gallagher",
    "Haddad",
    "Ibarra",
    "Jansen",
    "Kaur",
    "Laurent",
    "Mbeki",
    "Nyberg",
    "Ortega",
    "Pellegrini",
    "Quinlan",
    "Reyes",
    "Schmidt",
    "Tanaka",
    "Urquhart",
    "Varga",
    "Wainwright",
    "Yilmaz",
    "Zielinski",
]
CITIES = ["Riverton", "Ashford", "Millbrook", "Kingsbridge", "Eastmoor", "Harlow Green"]
INSURERS = ["Northstar Health", "Meridian Mutual", "CareFirst Alliance", "Bluepeak"]
BLOOD_TYPES = ["O+", "O+", "O+", "A+", "A+", "B+", "AB+", "O-", "A-", "B-"]

DIAGNOSES = [
    # code, description, chronic
    ("J06", "Acute upper respiratory infection", 0),
    ("J45", "Asthma", 1),
    ("I10", "Essential hypertension", 1),
    ("E11", "Type 2 diabetes mellitus", 1),
    ("E03", "Hypothyroidism", 1),
    ("L20", "Atopic dermatitis", 1),
    ("L70", "Acne", 0),
    ("M54", "Back pain", 0),
    ("S93", "Sprained ankle", 0),
    ("G43", "Migraine", 1),
    ("R51", "Headache", 0),
    ("I48", "Atrial fibrillation", 1),
    ("H66", "Otitis media", 0),
    ("K21", "Gastro-oesophageal reflux", 1),
    ("F41", "Anxiety disorder", 1),
    ("B34", "Viral infection", 0),
    ("Z00", "General health check", 0),
    ("M17", "Knee osteoarthritis", 1),
]
# Which diagnoses each department tends to record; a visit gets one or two of them.
DEPARTMENT_DIAGNOSES = {
    1: ["J06", "B34", "Z00", "R51", "K21", "F41", "I10"],
    2: ["I10", "I48", "Z00"],
    3: ["L20", "L70"],
    4: ["J06", "H66", "B34", "J45"],
    5: ["M54", "S93", "M17"],
    6: ["G43", "R51"],
    7: ["E11", "E03"],
    8: ["J45", "J06"],
}

MEDICATIONS = [
    # name, strength_mg, unit_price, prescription_only
    ("Amoxicillin", 250.0, 0.32, 1),
    ("Amoxicillin", 500.0, 0.55, 1),
    ("Ibuprofen", 200.0, 0.08, 0),
    ("Ibuprofen", 400.0, 0.12, 0),
    ("Paracetamol", 500.0, 0.05, 0),
    ("Salbutamol", 0.1, 0.21, 1),
    ("Lisinopril", 10.0, 0.18, 1),
    ("Amlodipine", 5.0, 0.15, 1),
    ("Metformin", 500.0, 0.09, 1),
    ("Metformin", 850.0, 0.13, 1),
    ("Levothyroxine", 0.05, 0.11, 1),
    ("Hydrocortisone cream", 1.0, 2.75, 0),
    ("Sumatriptan", 50.0, 1.45, 1),
    ("Omeprazole", 20.0, 0.19, 1),
    ("Sertraline", 50.0, 0.27, 1),
    ("Apixaban", 5.0, 1.9, 1),
    ("Cetirizine", 10.0, 0.07, 0),
]
LAB_TESTS = [
    # name, unit, low, high
    ("HbA1c", "mmol/mol", 30.0, 90.0),
    ("Cholesterol", "mmol/L", 3.0, 8.0),
    ("Haemoglobin", "g/L", 95.0, 175.0),
    ("TSH", "mU/L", 0.2, 9.0),
    ("Vitamin D", "nmol/L", 15.0, 120.0),
]
STATUSES = ["completed"] * 8 + ["cancelled", "no-show"]
STATUS_SPELLINGS = {"completed": ["completed", "Completed", "COMPLETED"], "no-show": ["no-show", "No-Show"]}
FEES = [45.0, 60.0, 75.0, 90.0, 120.0]


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _insert_staff(conn: sqlite3.Connection, rng: random.Random) -> list[int]:
    conn.executemany("INSERT INTO departments VALUES (?, ?, ?)", [(i, *d) for i, d in enumerate(DEPARTMENTS, 1)])
    conn.executemany("INSERT INTO diagnoses VALUES (?, ?, ?)", DIAGNOSES)
    conn.executemany("INSERT INTO medications VALUES (?, ?, ?, ?, ?)", [(i, *m) for i, m in enumerate(MEDICATIONS, 1)])
    doctor_departments: list[int] = []
    for doctor_id in range(1, 43):
        # Every department gets at least four doctors; the rest are spread at random.
        department_id = ((doctor_id - 1) % 8) + 1 if doctor_id <= 32 else rng.randint(1, 8)
        first = rng.choice(FIRST_NAMES_F + FIRST_NAMES_M)
        hired = _random_date(rng, dt.date(2001, 1, 1), dt.date(2023, 6, 30))
        salary = round(rng.uniform(78000, 185000), -2) if rng.random() < 0.85 else None
        conn.execute(
            "INSERT INTO doctors VALUES (?, ?, ?, ?, ?, ?)",
            (doctor_id, first, rng.choice(LAST_NAMES), department_id, hired.isoformat(), salary),
        )
        doctor_departments.append(department_id)
    return doctor_departments


def _insert_patients(conn: sqlite3.Connection, rng: random.Random) -> int:
    count = 420
    for patient_id in range(1, count + 1):
        sex = rng.choice("FM")
        first = rng.choice(FIRST_NAMES_F if sex == "F" else FIRST_NAMES_M)
        born = _random_date(rng, dt.date(1938, 1, 1), dt.date(2021, 12, 31))
        insurer = rng.choice(INSURERS) if rng.random() < 0.8 else None
        blood = rng.choice(BLOOD_TYPES) if rng.random() < 0.75 else None
        registered = _random_date(rng, dt.date(2015, 1, 1), dt.date(2022, 12, 31))
        conn.execute(
            "INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                patient_id,
                first,
                rng.choice(LAST_NAMES),
                sex,
                born.isoformat(),
                rng.choice(CITIES),
                insurer,
                blood,
                registered.strftime("%Y%m%d"),
            ),
        )
    return count


def _insert_visits(conn: sqlite3.Connection, rng: random.Random, doctor_departments: list[int], patients: int) -> None:
    prescription_id = 0
    medication_ids = {name: [i for i, m in enumerate(MEDICATIONS, 1) if m[0] == name] for name, *_ in MEDICATIONS}
    treats = {
        "J06": ["Paracetamol", "Ibuprofen"],
        "J45": ["Salbutamol"],
        "I10": ["Lisinopril", "Amlodipine"],
        "E11": ["Metformin"],
        "E03": ["Levothyroxine"],
        "L20": ["Hydrocortisone cream", "Cetirizine"],
        "M54": ["Ibuprofen"],
        "S93": ["Ibuprofen", "Paracetamol"],
        "G43": ["Sumatriptan"],
        "I48": ["Apixaban"],
        "H66": ["Amoxicillin"],
        "K21": ["Omeprazole"],
        "F41": ["Sertraline"],
        "M17": ["Paracetamol", "Ibuprofen"],
    }
    for appointment_id in range(1, 1601):
        doctor_id = rng.randint(1, len(doctor_departments))
        department_id = doctor_departments[doctor_id - 1]
        day = _random_date(rng, dt.date(2022, 1, 3), dt.date(2024, 12, 20))
        start = f"{rng.randint(8, 16):02d}:{rng.choice(['00', '15', '30', '45'])}"
        status = rng.choice(STATUSES)
        spelled = rng.choice(STATUS_SPELLINGS.get(status, [status]))
        conn.execute(
            "INSERT INTO appointments VALUES (?, ?, ?, ?, ?, ?, ?)",
            (appointment_id, rng.randint(1, patients), doctor_id, day.isoformat(), start, spelled, rng.choice(FEES)),
        )
        if status != "completed":
            continue
        codes = rng.sample(
            DEPARTMENT_DIAGNOSES[department_id], min(rng.choice([1, 1, 1, 2]), len(DEPARTMENT_DIAGNOSES[department_id]))
        )
        conn.executemany("INSERT INTO appointment_diagnoses VALUES (?, ?)", [(appointment_id, c) for c in codes])
        for code in codes:
            if code not in treats or rng.random() < 0.3:
                continue
            prescription_id += 1
            medication_id = rng.choice(medication_ids[rng.choice(treats[code])])
            refills = rng.choice([0, 0, 1, 2, 3]) if rng.random() < 0.9 else None
            conn.execute(
                "INSERT INTO prescriptions VALUES (?, ?, ?, ?, ?, ?)",
                (
                    prescription_id,
                    appointment_id,
                    medication_id,
                    rng.choice([1, 2, 3]),
                    rng.choice([5, 7, 10, 14, 28, 30, 90]),
                    refills,
                ),
            )


def _insert_lab_results(conn: sqlite3.Connection, rng: random.Random, patients: int) -> None:
    for lab_result_id in range(1, 761):
        name, unit, low, high = rng.choice(LAB_TESTS)
        taken = _random_date(rng, dt.date(2022, 1, 3), dt.date(2024, 12, 20))
        conn.execute(
            "INSERT INTO lab_results VALUES (?, ?, ?, ?, ?, ?)",
            (lab_result_id, rng.randint(1, patients), name, round(rng.uniform(low, high), 1), unit, taken.isoformat()),
        )


def populate(conn: sqlite3.Connection, rng: random.Random) -> None:
    """Insert every row of the clinic; all randomness comes from ``rng``."""
    doctor_departments = _insert_staff(conn, rng)
    patients = _insert_patients(conn, rng)
    _insert_visits(conn, rng, doctor_departments, patients)
    _insert_lab_results(conn, rng, patients)
