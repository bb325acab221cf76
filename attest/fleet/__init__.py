"""The provider-wide (fleet) attestation: for one period, across every tenant and naming none,
the share of instances and tenants for which each area of the catalog was proven, with counts,
denominators and anonymised exceptions; rendered, signed and recorded like any attestation.

model.py (the frozen, signed JSON) · aggregate.py (Evaluation → figures) · render.py (HTML, PDF)
· issue.py (sign, store, record).
"""
