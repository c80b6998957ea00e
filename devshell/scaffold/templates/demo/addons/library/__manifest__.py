{
    "name": "Library",
    "version": "1.0.0",
    "summary": "The devshell demo: authors, books, members and loans, with a live page",
    "depends": [],
    "data": ["data/schema.sql", "data/library_genre.csv"],
    "populate": {
        "library_author": {"small": 12, "medium": 60, "large": 300},
        "library_book": {"small": 40, "medium": 300, "large": 3000},
        "library_member": {"small": 15, "medium": 100, "large": 1000},
        "library_loan": {"small": 30, "medium": 400, "large": 5000},
    },
    "cloc_exclude": ["tests/**"],
    "license": "MIT",
}
