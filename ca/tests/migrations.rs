//! Schema upgrades keep what the database holds: a database made by the migrations before the
//! `sub-ca` profile (version 8), with certificates linked by renewals, is brought up to date by
//! `Store::connect` and keeps every row and every constraint, on SQLite (foreign keys on, as
//! the store runs them) and on PostgreSQL (a private cluster; PostgreSQL missing is a failure,
//! unless `IGC_SKIP_PG=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ca::domain::{Actor, CaName, Profile, Serial};
use ca::storage::{Backend, InfraOrigin, InfraRecorded, NewCertificate, Store};
use sqlx::{AnyConnection, Connection as _, Executor as _};
use support::pg::PgCluster;
use time::{Duration, OffsetDateTime};

/// The migrations as they were before the `sub-ca` profile.
static COMMON: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
const LAST_VERSION_BEFORE_SUB_CA: i64 = 8;

/// Every column of a `certificates` row, as stored: text columns by name, then the integers.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    text: Vec<(&'static str, Option<String>)>,
    request_id: Option<i64>,
    crl_partition: i64,
}

const TEXT_COLUMNS: [&str; 14] = [
    "serial",
    "issuer",
    "profile",
    "professional",
    "structure",
    "subject",
    "not_before",
    "not_after",
    "der",
    "status",
    "revoked_at",
    "revocation_reason",
    "superseded_by",
    "issued_at",
];

const T0: &str = "2026-01-01T00:00:00.000000Z";
const T1: &str = "2029-01-01T00:00:00.000000Z";
const REVOKED_AT: &str = "2026-02-01T00:00:00.000000Z";

/// Rows of every shape the old schema holds: professional certificates superseded by a
/// renewal, a structure's certificate on hold, a revoked one, an RA operator renewed through
/// the portal (ra_renewals), infrastructure certificates.
const SEED: &[&str] = &[
    "INSERT INTO structures (idnat, name, departement, registered_at, registered_by) \
     VALUES ('1750000001', 'CHU Test', '75', '2026-01-01T00:00:00.000000Z', 'clerk')",
    "INSERT INTO professionals (idnat, id_type, id_number, surname, given_names, name_key, \
     profession, structure, status, registered_at, registered_by, updated_at) \
     VALUES ('810003456788', 'rpps', '10003456788', 'Lefèvre', 'Anne', 'LEFEVRE', '10', \
     '1750000001', 'active', '2026-01-01T00:00:00.000000Z', 'clerk', \
     '2026-01-01T00:00:00.000000Z')",
    "INSERT INTO certificate_requests (id, profile, operator, csr_der, status, filed_by, \
     filed_at, decided_by, decided_at, issued_at) VALUES (1, 'ra-operator', 'guichet-a', \
     'MA==', 'issued', 'admin-a', '2026-01-01T00:00:00.000000Z', 'admin-b', \
     '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
];

/// A `certificates` row of the old schema.
struct Seeded {
    serial: &'static str,
    issuer: &'static str,
    profile: &'static str,
    professional: Option<&'static str>,
    structure: Option<&'static str>,
    request: Option<i64>,
    status: &'static str,
    reason: Option<&'static str>,
    superseded_by: Option<&'static str>,
}

const CERTIFICATES: &[Seeded] = &[
    // Inserted before the certificate that supersedes it: the link is set afterwards.
    Seeded {
        serial: "0a01",
        issuer: "CA Personnes",
        profile: "auth",
        professional: Some("810003456788"),
        structure: None,
        request: None,
        status: "revoked",
        reason: Some("superseded"),
        superseded_by: Some("0a02"),
    },
    Seeded {
        serial: "0a02",
        issuer: "CA Personnes",
        profile: "auth",
        professional: Some("810003456788"),
        structure: None,
        request: None,
        status: "good",
        reason: None,
        superseded_by: None,
    },
    Seeded {
        serial: "0b01",
        issuer: "CA Organisations",
        profile: "server",
        professional: None,
        structure: Some("1750000001"),
        request: None,
        status: "hold",
        reason: Some("certificateHold"),
        superseded_by: None,
    },
    Seeded {
        serial: "0c01",
        issuer: "CA Personnes",
        profile: "ra-operator",
        professional: None,
        structure: None,
        request: None,
        status: "good",
        reason: None,
        superseded_by: Some("0c02"),
    },
    Seeded {
        serial: "0c02",
        issuer: "CA Personnes",
        profile: "ra-operator",
        professional: None,
        structure: None,
        request: Some(1),
        status: "good",
        reason: None,
        superseded_by: None,
    },
    Seeded {
        serial: "0d01",
        issuer: "CA Personnes",
        profile: "ocsp-signer",
        professional: None,
        structure: None,
        request: None,
        status: "good",
        reason: None,
        superseded_by: None,
    },
    Seeded {
        serial: "0d02",
        issuer: "CA Organisations",
        profile: "tsa-unit",
        professional: None,
        structure: None,
        request: None,
        status: "revoked",
        reason: Some("keyCompromise"),
        superseded_by: None,
    },
];

async fn seed(conn: &mut AnyConnection) {
    for sql in SEED {
        conn.execute(*sql).await.unwrap();
    }
    for c in CERTIFICATES {
        sqlx::query(
            "INSERT INTO certificates (serial, issuer, profile, professional, structure, \
             request_id, subject, not_before, not_after, der, status, revoked_at, \
             revocation_reason, crl_partition, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(c.serial)
        .bind(c.issuer)
        .bind(c.profile)
        .bind(c.professional)
        .bind(c.structure)
        .bind(c.request)
        .bind(format!("CN=certificate {}", c.serial))
        .bind(T0)
        .bind(T1)
        .bind("MAA=")
        .bind(c.status)
        .bind(c.reason.map(|_| REVOKED_AT))
        .bind(c.reason)
        .bind(3_i64)
        .bind(T0)
        .execute(&mut *conn)
        .await
        .unwrap();
    }
    for c in CERTIFICATES {
        if let Some(by) = c.superseded_by {
            sqlx::query("UPDATE certificates SET superseded_by = $1 WHERE serial = $2")
                .bind(by)
                .bind(c.serial)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    }
    // The portal renewed guichet-a's certificate 0c01 with request 1.
    conn.execute("INSERT INTO ra_renewals (request_id, renews_serial) VALUES (1, '0c01')")
        .await
        .unwrap();
}

async fn certificate_rows(conn: &mut AnyConnection) -> Vec<Row> {
    use sqlx::Row as _;
    let rows = sqlx::query(
        "SELECT serial, issuer, profile, professional, structure, request_id, subject, \
         not_before, not_after, der, status, revoked_at, revocation_reason, superseded_by, \
         crl_partition, issued_at FROM certificates ORDER BY serial",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.iter()
        .map(|r| Row {
            text: TEXT_COLUMNS
                .iter()
                .map(|&c| (c, r.try_get::<Option<String>, _>(c).unwrap()))
                .collect(),
            request_id: r.try_get("request_id").unwrap(),
            crl_partition: r.try_get("crl_partition").unwrap(),
        })
        .collect()
}

async fn renewals(conn: &mut AnyConnection) -> Vec<(i64, String)> {
    sqlx::query_as("SELECT request_id, renews_serial FROM ra_renewals ORDER BY request_id")
        .fetch_all(&mut *conn)
        .await
        .unwrap()
}

/// A connection that enforces foreign keys as the store's do.
async fn connect(url: &str, backend: Backend) -> AnyConnection {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(url).await.unwrap();
    if backend == Backend::Sqlite {
        conn.execute("PRAGMA foreign_keys = ON").await.unwrap();
    }
    conn
}

fn sub_ca(serial: &str) -> NewCertificate {
    let now = OffsetDateTime::now_utc();
    NewCertificate {
        serial: serial.parse::<Serial>().unwrap(),
        issuer: "IGC Test Root".parse::<CaName>().unwrap(),
        profile: Profile::SubCa,
        professional: None,
        structure: None,
        subject: "CN=IGC Test CA".into(),
        not_before: now - Duration::minutes(5),
        not_after: now + Duration::days(3650),
        der: vec![0x30, 0x00],
        crl_partition: 0,
        supersedes: None,
    }
}

async fn upgrade_keeps_every_row(url: &str, backend: Backend) {
    let mut conn = connect(url, backend).await;
    COMMON
        .run_to(LAST_VERSION_BEFORE_SUB_CA, &mut conn)
        .await
        .unwrap();
    seed(&mut conn).await;
    let before = certificate_rows(&mut conn).await;
    assert_eq!(before.len(), CERTIFICATES.len());
    conn.close().await.unwrap();

    let store = Store::connect(url).await.unwrap();
    assert_eq!(store.backend(), backend);
    let mut conn = connect(url, backend).await;
    assert_eq!(
        certificate_rows(&mut conn).await,
        before,
        "rows changed by the upgrade"
    );
    assert_eq!(renewals(&mut conn).await, vec![(1, "0c01".to_owned())]);

    // The new profile is accepted, by the store as by the database.
    let actor = Actor::system("test").unwrap();
    assert_eq!(
        store
            .record_infrastructure_certificate(&sub_ca("5c01"), InfraOrigin::Ceremony, &actor)
            .await
            .unwrap(),
        InfraRecorded::New
    );
    let recorded = store
        .certificate(&"5c01".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.profile, Profile::SubCa);

    // Every constraint is still there.
    let refused = [
        "UPDATE certificates SET profile = 'root' WHERE serial = '0a02'",
        "UPDATE certificates SET superseded_by = 'ffff' WHERE serial = '0a02'",
        "INSERT INTO ra_renewals (request_id, renews_serial) VALUES (1, 'ffff')",
        "UPDATE certificates SET professional = '899999999999' WHERE serial = '0a02'",
        "UPDATE certificates SET status = 'good' WHERE serial = '0a01'",
        "INSERT INTO certificates SELECT * FROM certificates WHERE serial = '0a02'",
    ];
    for sql in refused {
        assert!(
            conn.execute(sql).await.is_err(),
            "accepted after the upgrade: {sql}"
        );
    }
    // Deleting a certificate that a renewal names is refused too.
    assert!(conn
        .execute("DELETE FROM certificates WHERE serial = '0c01'")
        .await
        .is_err());

    // The indexes of 0001, the CRL's partial index among them, and nothing left behind.
    let (indexes, tables) = match backend {
        Backend::Sqlite => (
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'certificates' \
             AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'certificates%'",
        ),
        Backend::Postgres => (
            "SELECT CAST(indexname AS TEXT) FROM pg_indexes WHERE tablename = 'certificates' \
             AND indexname <> 'certificates_pkey' ORDER BY indexname",
            "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE tablename LIKE 'certificates%'",
        ),
    };
    let names: Vec<String> = sqlx::query_scalar(indexes)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        names,
        [
            "certificates_crl",
            "certificates_professional",
            "certificates_request",
            "certificates_structure"
        ]
    );
    let tables: Vec<String> = sqlx::query_scalar(tables)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(tables, ["certificates"]);
    let crl_index: String = sqlx::query_scalar(match backend {
        Backend::Sqlite => {
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'certificates_crl'"
        }
        Backend::Postgres => {
            "SELECT CAST(indexdef AS TEXT) FROM pg_indexes WHERE indexname = 'certificates_crl'"
        }
    })
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(
        crl_index.contains("WHERE") && crl_index.contains("'revoked'"),
        "{crl_index}"
    );
    if backend == Backend::Sqlite {
        let violations: Vec<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert!(violations.is_empty(), "{violations:?}");
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(integrity, "ok");
    }
    conn.close().await.unwrap();
    store.close().await;

    // A second start finds nothing to do and every checksum as it was.
    let again = Store::connect(url).await.unwrap();
    assert_eq!(
        again
            .certificate(&"0c01".parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .superseded_by,
        Some("0c02".parse().unwrap())
    );
    again.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ca.db").display());
    upgrade_keeps_every_row(&url, Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrade_keeps_every_row() {
    let pg = match PgCluster::start() {
        Ok(Some(pg)) => pg,
        Ok(None) => {
            eprintln!("IGC_SKIP_PG=1: PostgreSQL test skipped");
            return;
        }
        Err(e) => panic!("PostgreSQL test cluster: {e}"),
    };
    let url = pg.create_database("igc_upgrade").unwrap();
    upgrade_keeps_every_row(&url, Backend::Postgres).await;
}
