"""Bulk import of CSV/XLSX files into the canonical deal stream (POST /v1/imports)."""
