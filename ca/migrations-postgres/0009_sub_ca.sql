-- Sub-CA certificates signed by the offline root are recorded like every other certificate a
-- CA key signs (profile 'sub-ca'). PostgreSQL changes the column's CHECK in place; the
-- constraint has the name PostgreSQL gave it in 0001 (<table>_<column>_check). The SQLite
-- counterpart (ca/migrations-sqlite/0009_sub_ca.sql) rebuilds the table instead.
ALTER TABLE certificates
    DROP CONSTRAINT certificates_profile_check,
    ADD CONSTRAINT certificates_profile_check CHECK (profile IN
        ('auth', 'sign', 'conf', 'server', 'ra-operator', 'ocsp-signer', 'tsa-unit', 'sub-ca'));
