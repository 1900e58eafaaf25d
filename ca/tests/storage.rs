//! Storage tests: every scenario runs on SQLite (a file in a temporary directory) and on
//! PostgreSQL (a private cluster started by `support::pg`). PostgreSQL missing is a failure,
//! unless `IGC_SKIP_PG=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/sealer.rs"]
mod sealing;
mod support;

use std::collections::BTreeSet;

use ca::domain::{
    Actor, CaName, CertStatus, IdNatPs, IdentityDocumentType, IdentityProofing, Professional,
    ProfessionalStatus, Profile, ProofingMode, RequestStatus, RevocationReason, Serial, Structure,
};
use ca::storage::{
    db_precision, CertificateStatus, ChainProblem, CodeFailure, InfraOrigin, InfraRecorded,
    LossChannel, LossStatus, NewAuditAnchor, NewCertificate, NewOperator, NewRequest, OperatorRole,
    OperatorStatus, Outcome, RequestId, RequestSubject, Store,
};
use ca::Error;
use serde_json::json;
use support::pg::PgCluster;
use time::{Duration, OffsetDateTime};

/// A store under test, with what keeps its database alive.
struct Db {
    store: Store,
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgCluster>,
}

impl Db {
    /// A second, independent pool on the same database (another "instance").
    async fn second_store(&self) -> Store {
        Store::connect(&self.url)
            .await
            .unwrap()
            .with_sealer(sealing::sealer())
    }

    /// A store on the same database that was given no sealer.
    async fn unsealed_store(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }

    /// A raw connection pool, for tampering with rows behind the store's back.
    async fn raw(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.url).await.unwrap()
    }
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ca.db").display());
    let store = Store::connect(&url)
        .await
        .unwrap()
        .with_sealer(sealing::sealer());
    Db {
        store,
        url,
        _dir: Some(dir),
        _pg: None,
    }
}

/// `None` only when IGC_SKIP_PG=1; a missing or broken PostgreSQL fails the test.
async fn postgres() -> Option<Db> {
    let pg = match PgCluster::start() {
        Ok(Some(pg)) => pg,
        Ok(None) => {
            eprintln!("IGC_SKIP_PG=1: PostgreSQL test skipped");
            return None;
        }
        Err(e) => panic!("PostgreSQL test cluster: {e}"),
    };
    let url = pg.create_database("igc_test").unwrap();
    let store = Store::connect(&url)
        .await
        .unwrap()
        .with_sealer(sealing::sealer());
    Some(Db {
        store,
        url,
        _dir: None,
        _pg: Some(pg),
    })
}

/// Runs each named scenario as one test per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::sqlite().await;
                    super::scenarios::$name(&db).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::postgres().await else { return };
                    super::scenarios::$name(&db).await;
                }
            )*
        }
    };
}

on_both_backends!(
    registration_and_audit,
    duplicate_serial_rejected,
    approve_own_request_refused,
    revoke_twice_refused,
    hold_reinstate_good,
    revoke_all_and_strike_off,
    directory_and_supersede,
    crl_numbers_and_entries,
    concurrent_crl_numbers,
    audit_tampering_detected,
    audit_anchors_recorded_once,
    concurrent_audit_appends,
    failed_operation_leaves_nothing,
    journal_failure_undoes_the_change,
    timestamp_tokens_recorded_once,
    import_jobs_report_each_line_once,
    one_time_password_opens_one_enrolment,
    administration_needs_two_administrators,
    totp_secrets_are_sealed,
    infrastructure_certificates_recorded_once,
    loss_declarations_suspend_then_decide,
);

fn in_a_day() -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(1)
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let db = sqlite().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&db.raw().await)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Scale check of the CRL walk: one million revoked certificates in one partition, read page
/// by page. Slow (it writes a million rows): `cargo test -p ca -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes a million rows"]
async fn crl_walk_scales_to_a_million_entries() {
    for db in [Some(sqlite().await), postgres().await]
        .into_iter()
        .flatten()
    {
        const N: i64 = 1_000_000;
        let raw = db.raw().await;
        let start = std::time::Instant::now();
        // Serials 1000000000000001.. (canonical lowercase hex, no leading zero octet).
        let insert = match db.store.backend() {
            ca::storage::Backend::Sqlite => {
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                 INSERT INTO certificates (serial, issuer, profile, subject, not_before, \
                 not_after, der, status, revoked_at, revocation_reason, crl_partition, issued_at) \
                 SELECT printf('%x', i + 1152921504606846976), 'CA Personnes', 'tsa-unit', 'CN=x', \
                 '2026-01-01T00:00:00.000000Z', '2029-01-01T00:00:00.000000Z', 'MAA=', 'revoked', \
                 '2026-02-01T00:00:00.000000Z', 'keyCompromise', 0, '2026-01-01T00:00:00.000000Z' \
                 FROM n"
            }
            ca::storage::Backend::Postgres => {
                "INSERT INTO certificates (serial, issuer, profile, subject, not_before, \
                 not_after, der, status, revoked_at, revocation_reason, crl_partition, issued_at) \
                 SELECT to_hex(i + 1152921504606846976), 'CA Personnes', 'tsa-unit', 'CN=x', \
                 '2026-01-01T00:00:00.000000Z', '2029-01-01T00:00:00.000000Z', 'MAA=', 'revoked', \
                 '2026-02-01T00:00:00.000000Z', 'keyCompromise', 0, '2026-01-01T00:00:00.000000Z' \
                 FROM generate_series(1, $1) AS i"
            }
        };
        sqlx::query(insert).bind(N).execute(&raw).await.unwrap();
        if db.store.backend() == ca::storage::Backend::Postgres {
            sqlx::query("ANALYZE certificates")
                .execute(&raw)
                .await
                .unwrap();
        }
        eprintln!(
            "{:?}: {N} rows inserted in {:?}",
            db.store.backend(),
            start.elapsed()
        );

        let start = std::time::Instant::now();
        let mut pages = db.store.revoked_entries_for_crl(&ca_name(), 0);
        let (mut count, mut slowest) = (0usize, std::time::Duration::ZERO);
        loop {
            let t = std::time::Instant::now();
            let Some(page) = pages.next_page().await.unwrap() else {
                break;
            };
            slowest = slowest.max(t.elapsed());
            count += page.len();
        }
        eprintln!(
            "{:?}: {count} entries walked in {:?}, slowest page {slowest:?}",
            db.store.backend(),
            start.elapsed()
        );
        assert_eq!(count as i64, N);
        // Keyset pages cost the same at the end as at the start: no page may take long.
        assert!(slowest < std::time::Duration::from_secs(2), "{slowest:?}");
    }
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    assert!(matches!(
        Store::connect("mysql://localhost/x").await,
        Err(Error::UnsupportedDatabaseUrl { .. })
    ));
}

// ----- fixtures ------------------------------------------------------------------------------

fn luhn_key(payload: &str) -> u32 {
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// IdNat_PS `8` + an RPPS built from `n` with its Luhn key.
fn rpps(n: u64) -> IdNatPs {
    let payload = format!("{n:010}");
    format!("8{payload}{}", luhn_key(&payload)).parse().unwrap()
}

fn clerk(id: &str) -> Actor {
    Actor::new(id, "tls-client-cert").unwrap()
}

fn ca_actor() -> Actor {
    Actor::system("ca").unwrap()
}

fn ca_name() -> CaName {
    "CA Personnes".parse().unwrap()
}

fn structure() -> Structure {
    Structure {
        idnat: "1750000010".parse().unwrap(),
        name: "Hôpital Saint-Louis".parse().unwrap(),
        departement: "75".parse().unwrap(),
    }
}

fn professional(idnat: &IdNatPs, surname: &str, profession: &str) -> Professional {
    Professional {
        idnat: idnat.clone(),
        surname: surname.parse().unwrap(),
        given_names: "Marie Anne".parse().unwrap(),
        profession: profession.parse().unwrap(),
        structure: None,
        status: ProfessionalStatus::Active,
    }
}

fn proofing() -> IdentityProofing {
    IdentityProofing {
        document_type: IdentityDocumentType::Cni,
        document_number: "X4RT12AB9".parse().unwrap(),
        mode: ProofingMode::FaceToFace,
        checked_by: "clerk-a".parse().unwrap(),
        checked_at: db_precision(OffsetDateTime::now_utc() - Duration::hours(1)),
    }
}

/// A stand-in DER SEQUENCE (the store does not parse it).
fn der(tag: u8) -> Vec<u8> {
    vec![0x30, 0x03, 0x02, 0x01, tag]
}

async fn register(store: &Store, idnat: &IdNatPs, surname: &str) -> Professional {
    let p = professional(idnat, surname, "10");
    store
        .register_professional(&p, &proofing(), &clerk("clerk-a"))
        .await
        .unwrap();
    p
}

fn new_cert(serial: &Serial, idnat: &IdNatPs, profile: Profile, partition: u32) -> NewCertificate {
    let now = OffsetDateTime::now_utc();
    NewCertificate {
        serial: serial.clone(),
        issuer: ca_name(),
        profile,
        professional: Some(idnat.clone()),
        structure: None,
        subject: format!("C=FR, CN={idnat}"),
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(3 * 365),
        der: der(9),
        crl_partition: partition,
        supersedes: None,
    }
}

/// Files (clerk-a) and approves (clerk-b) a request.
async fn approved_request(store: &Store, idnat: &IdNatPs, profile: Profile) -> RequestId {
    let id = store
        .file_request(
            &NewRequest {
                profile,
                subject: RequestSubject::Professional(idnat.clone()),
                csr_der: der(1),
            },
            &clerk("clerk-a"),
        )
        .await
        .unwrap();
    store.approve_request(id, &clerk("clerk-b")).await.unwrap();
    id
}

/// The full workflow: file, approve, record; returns the new serial.
async fn issue(store: &Store, idnat: &IdNatPs, profile: Profile, partition: u32) -> Serial {
    let id = approved_request(store, idnat, profile).await;
    let serial = Serial::random();
    store
        .record_issued_certificate(
            &new_cert(&serial, idnat, profile, partition),
            Some(id),
            &ca_actor(),
        )
        .await
        .unwrap();
    serial
}

/// Makes the audit journal refuse (`true`) or accept (`false`) new entries, behind the
/// store's back: a trigger that aborts every insert into `audit_log`.
async fn refuse_journal(db: &Db, refuse: bool) {
    let raw = db.raw().await;
    let statements: &[&'static str] = match (db.url.starts_with("postgres"), refuse) {
        (false, true) => &["CREATE TRIGGER refuse_journal BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'journal refused by the test'); END"],
        (false, false) => &["DROP TRIGGER refuse_journal"],
        (true, true) => &[
            "CREATE FUNCTION refuse_journal() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'journal refused by the test'; END $$",
            "CREATE TRIGGER refuse_journal BEFORE INSERT ON audit_log \
             FOR EACH ROW EXECUTE FUNCTION refuse_journal()",
        ],
        (true, false) => &[
            "DROP TRIGGER refuse_journal ON audit_log",
            "DROP FUNCTION refuse_journal()",
        ],
    };
    for sql in statements {
        sqlx::query(*sql).execute(&raw).await.unwrap();
    }
    raw.close().await;
}

async fn audit_len(store: &Store) -> u64 {
    store.audit_head().await.unwrap().0
}

async fn last_actions(store: &Store, n: usize) -> Vec<String> {
    let all = store.audit_entries(0, 10_000).await.unwrap();
    all[all.len().saturating_sub(n)..]
        .iter()
        .map(|e| e.action.clone())
        .collect()
}

/// Registering `idnat` as a line of import job `job` is refused as invalid, and leaves it
/// unregistered.
async fn imported_line_refused_whole(s: &Store, job: &str, idnat: &IdNatPs, actor: &Actor) {
    let p = professional(idnat, "PETIT", "10");
    let e = s
        .register_imported_professional(job, 4, &p, &proofing(), actor)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidValue { .. }), "{e:?}");
    assert!(s.find_professional(idnat).await.unwrap().is_none());
}

// ----- scenarios -----------------------------------------------------------------------------

mod scenarios {
    use super::*;

    /// Certificates signed in ceremonies (OCSP responder, TSA unit) are recorded without a
    /// request, once, journaled; OCSP and the CRLs then answer for them like for any other.
    pub async fn infrastructure_certificates_recorded_once(db: &Db) {
        let s = &db.store;
        let now = OffsetDateTime::now_utc();
        let tsa = NewCertificate {
            serial: Serial::random(),
            issuer: ca_name(),
            profile: Profile::TsaUnit,
            professional: None,
            structure: None,
            subject: "C=FR, CN=TSA unit 1".into(),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            der: der(21),
            crl_partition: 7,
            supersedes: None,
        };
        let ceremony = Actor::new("alice", "ceremony").unwrap();
        let before = audit_len(s).await;
        assert_eq!(
            s.record_infrastructure_certificate(&tsa, InfraOrigin::Ceremony, &ceremony)
                .await
                .unwrap(),
            InfraRecorded::New
        );
        assert_eq!(last_actions(s, 1).await, vec!["certificate.issue"]);
        // Again, as the back-fill of a later start does: nothing written.
        let backfill = Actor::system("back-fill").unwrap();
        assert_eq!(
            s.record_infrastructure_certificate(&tsa, InfraOrigin::BackFill, &backfill)
                .await
                .unwrap(),
            InfraRecorded::AlreadyRecorded
        );
        assert_eq!(audit_len(s).await, before + 1);
        // The same serial with other bytes is refused, and changes nothing.
        let other = NewCertificate {
            der: der(22),
            ..tsa.clone()
        };
        let e = s
            .record_infrastructure_certificate(&other, InfraOrigin::BackFill, &backfill)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::DuplicateSerial { serial } if *serial == tsa.serial.to_string()),
            "{e:?}"
        );
        assert_eq!(
            s.certificate(&tsa.serial).await.unwrap().unwrap().der,
            der(21)
        );
        assert_eq!(audit_len(s).await, before + 1);
        // End-entity profiles go through the RA workflow, never through this door.
        let idnat = rpps(1_000_000_777);
        let auth = NewCertificate {
            serial: Serial::random(),
            ..new_cert(&Serial::random(), &idnat, Profile::Auth, 0)
        };
        let e = s
            .record_infrastructure_certificate(&auth, InfraOrigin::BackFill, &backfill)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::ProfileMismatch { .. }), "{e:?}");

        // Two instances back-filling the same responder at once: one records, one finds it.
        let ocsp = NewCertificate {
            serial: Serial::random(),
            profile: Profile::OcspSigner,
            subject: "C=FR, CN=OCSP".into(),
            der: der(23),
            ..tsa.clone()
        };
        let second = db.second_store().await;
        let (a, b) = tokio::join!(
            s.record_infrastructure_certificate(&ocsp, InfraOrigin::BackFill, &backfill),
            second.record_infrastructure_certificate(&ocsp, InfraOrigin::BackFill, &backfill),
        );
        let mut outcomes = vec![a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|o| *o == InfraRecorded::New);
        assert_eq!(
            outcomes,
            vec![InfraRecorded::AlreadyRecorded, InfraRecorded::New]
        );
        assert_eq!(last_actions(s, 1).await, vec!["certificate.backfill"]);
        second.close().await;

        // OCSP knows them; once revoked, the CRL partition lists the TSA unit.
        let state = s.ocsp_state(&tsa.serial).await.unwrap().unwrap();
        assert_eq!(
            (state.issuer, state.status),
            (ca_name(), CertificateStatus::Good)
        );
        s.revoke(
            &tsa.serial,
            RevocationReason::KeyCompromise,
            now,
            &clerk("bureau"),
        )
        .await
        .unwrap();
        let mut entries = s.revoked_entries_for_crl(&ca_name(), 7);
        let page = entries.next_page().await.unwrap().unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].serial, tsa.serial);
        assert_eq!(page[0].reason, RevocationReason::KeyCompromise);
        assert!(s.verify_audit_chain().await.unwrap().is_intact());
    }

    /// Issue 19, finding 2: an account created or reset by one administrator is unusable
    /// until a second one confirms it; the first administrators come from a ceremony, two at
    /// least, once; the last two active administrators cannot be disabled.
    pub async fn administration_needs_two_administrators(db: &Db) {
        use ca::storage::{NewSession, SessionStage};
        let s = &db.store;
        let ceremony = Actor::system("ceremony").unwrap();
        let admin = |login: &str| NewOperator {
            login: login.parse().unwrap(),
            display_name: "Admin".into(),
            role: OperatorRole::Administrator,
            order: None,
        };
        let session = |token: &str, login: &str| NewSession {
            token_hash: token.into(),
            login: login.parse().unwrap(),
            auth_method: "test".into(),
            stage: SessionStage::Enrolment,
            csrf_token: "c".repeat(64),
            expires_at: in_a_day(),
        };
        // One administrator is no dual control; nor is a clerk among the first.
        let one = [(admin("adm-a"), "h".to_owned())];
        assert!(s
            .create_first_administrators(&one, in_a_day(), "c0", &ceremony)
            .await
            .is_err());
        let mut mixed = vec![(admin("adm-a"), "h".to_owned())];
        mixed.push((
            NewOperator {
                role: OperatorRole::Clerk,
                order: Some(ca::domain::Order::Medecins),
                ..admin("clerk-x")
            },
            "h".to_owned(),
        ));
        assert!(s
            .create_first_administrators(&mixed, in_a_day(), "c0", &ceremony)
            .await
            .is_err());
        assert_eq!(s.operator_count().await.unwrap(), 0);
        let first = [
            (admin("adm-a"), "hash-a".to_owned()),
            (admin("adm-b"), "hash-b".to_owned()),
        ];
        s.create_first_administrators(&first, in_a_day(), "c1", &ceremony)
            .await
            .unwrap();
        assert_eq!(last_actions(s, 1).await, ["ceremony.ra-administrators"]);
        let again = [
            (admin("adm-c"), "h".to_owned()),
            (admin("adm-d"), "h".to_owned()),
        ];
        assert!(s
            .create_first_administrators(&again, in_a_day(), "c2", &ceremony)
            .await
            .is_err());
        // The ceremony's administrators are usable at once.
        s.open_session(&session("a-1", "adm-a"), None, Some("S"), &clerk("adm-a"))
            .await
            .unwrap();

        // adm-a creates a clerk: unusable, and adm-a cannot confirm it.
        let (a, b) = (clerk("adm-a"), clerk("adm-b"));
        let agent = NewOperator {
            login: "agent-dc".parse().unwrap(),
            display_name: "Agent".into(),
            role: OperatorRole::Clerk,
            order: Some(ca::domain::Order::Medecins),
        };
        s.create_operator(&agent, &a).await.unwrap();
        let op = s.operator("agent-dc").await.unwrap().unwrap();
        assert_eq!(op.awaiting_confirmation_by.as_deref(), Some("adm-a"));
        assert!(s
            .open_session(
                &session("x-1", "agent-dc"),
                None,
                Some("S"),
                &clerk("agent-dc")
            )
            .await
            .is_err());
        let e = s
            .confirm_operator("agent-dc", "hash-x", in_a_day(), &a)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::SelfConfirmation { .. }), "{e:?}");
        // Nor can the account confirm itself.
        let e = s
            .confirm_operator("agent-dc", "hash-x", in_a_day(), &clerk("agent-dc"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::SelfConfirmation { .. }), "{e:?}");
        s.confirm_operator("agent-dc", "hash-x", in_a_day(), &b)
            .await
            .unwrap();
        assert_eq!(last_actions(s, 1).await, ["operator.confirm"]);
        assert!(s
            .confirm_operator("agent-dc", "hash-y", in_a_day(), &b)
            .await
            .is_err());
        s.open_session(
            &session("x-2", "agent-dc"),
            None,
            Some("S"),
            &clerk("agent-dc"),
        )
        .await
        .unwrap();
        // A reset ends the sessions and awaits a second administrator too.
        s.reset_operator("agent-dc", &b).await.unwrap();
        assert!(s.session("x-2").await.unwrap().is_none());
        assert!(s
            .confirm_operator("agent-dc", "hash-z", in_a_day(), &b)
            .await
            .is_err());
        s.confirm_operator("agent-dc", "hash-z", in_a_day(), &a)
            .await
            .unwrap();

        // The last two active administrators stay; a third one may go.
        for (login, by) in [("adm-b", &a), ("adm-a", &b)] {
            let e = s
                .set_operator_status(login, OperatorStatus::Disabled, by)
                .await
                .unwrap_err();
            assert!(matches!(e, Error::LastAdministrators { .. }), "{e:?}");
        }
        s.create_operator(&admin("adm-c"), &a).await.unwrap();
        s.confirm_operator("adm-c", "hash-c", in_a_day(), &b)
            .await
            .unwrap();
        s.set_operator_status("adm-a", OperatorStatus::Disabled, &b)
            .await
            .unwrap();
        let e = s
            .set_operator_status("adm-c", OperatorStatus::Disabled, &b)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::LastAdministrators { .. }), "{e:?}");
        // A clerk is disabled whatever the number of administrators.
        s.set_operator_status("agent-dc", OperatorStatus::Disabled, &b)
            .await
            .unwrap();
    }

    /// Issue 19, finding 1: a one-time password opens one enrolment session, before it
    /// expires; that session and the enrolment end every other session of the operator; an
    /// enrolment completes once.
    pub async fn one_time_password_opens_one_enrolment(db: &Db) {
        use ca::storage::{NewSession, SessionStage};
        let s = &db.store;
        let admin = Actor::system("test-admin").unwrap();
        let agent = |login: &str| NewOperator {
            login: login.parse().unwrap(),
            display_name: "Agent".into(),
            role: OperatorRole::Clerk,
            order: Some(ca::domain::Order::Medecins),
        };
        let session = |token: &str, login: &str, stage: SessionStage| NewSession {
            token_hash: token.into(),
            login: login.parse().unwrap(),
            auth_method: "test".into(),
            stage,
            csrf_token: "c".repeat(64),
            expires_at: in_a_day(),
        };
        let actor = clerk("agent-otp");
        let second = Actor::system("test-admin-2").unwrap();
        s.create_operator(&agent("agent-otp"), &admin)
            .await
            .unwrap();
        s.confirm_operator("agent-otp", "hash-1", in_a_day(), &second)
            .await
            .unwrap();
        // A session of another kind (a certificate login) before the one-time password.
        s.open_session(
            &session("cert-1", "agent-otp", SessionStage::Full),
            None,
            None,
            &actor,
        )
        .await
        .unwrap();
        s.open_session(
            &session("otp-1", "agent-otp", SessionStage::Enrolment),
            None,
            Some("SECRETONE"),
            &actor,
        )
        .await
        .unwrap();
        assert!(
            s.session("cert-1").await.unwrap().is_none(),
            "ended by the OTP login"
        );
        let creds = s.operator_credentials("agent-otp").await.unwrap().unwrap();
        assert_eq!(creds.otp_expires_at, None, "spent");
        // Spent: a second enrolment session is refused, and the first one keeps its secret.
        assert!(s
            .open_session(
                &session("otp-2", "agent-otp", SessionStage::Enrolment),
                None,
                Some("SECRETTWO"),
                &actor,
            )
            .await
            .is_err());
        assert!(s.session("otp-2").await.unwrap().is_none());
        let creds = s.operator_credentials("agent-otp").await.unwrap().unwrap();
        assert_eq!(creds.totp_secret.as_deref(), Some("SECRETONE"));

        s.open_session(
            &session("cert-2", "agent-otp", SessionStage::Full),
            None,
            None,
            &actor,
        )
        .await
        .unwrap();
        s.complete_enrolment("otp-1", "hash-2", 100, &actor)
            .await
            .unwrap();
        assert!(
            s.session("cert-2").await.unwrap().is_none(),
            "ended by enrolment"
        );
        let full = s.session("otp-1").await.unwrap().unwrap();
        assert_eq!(full.stage, SessionStage::Full);
        // Once enrolled, enrolment does not happen again, whatever the session.
        s.open_session(
            &session("cert-3", "agent-otp", SessionStage::Full),
            None,
            None,
            &actor,
        )
        .await
        .unwrap();
        assert!(s
            .complete_enrolment("otp-1", "hash-3", 200, &actor)
            .await
            .is_err());
        assert!(s
            .complete_enrolment("cert-3", "hash-3", 200, &actor)
            .await
            .is_err());
        let creds = s.operator_credentials("agent-otp").await.unwrap().unwrap();
        assert_eq!(creds.password_hash, "hash-2");

        // An expired one-time password opens nothing; a reset gives a new one.
        s.create_operator(&agent("agent-late"), &admin)
            .await
            .unwrap();
        s.confirm_operator(
            "agent-late",
            "hash-1",
            OffsetDateTime::now_utc() - Duration::seconds(1),
            &second,
        )
        .await
        .unwrap();
        let late = clerk("agent-late");
        assert!(s
            .open_session(
                &session("late-1", "agent-late", SessionStage::Enrolment),
                None,
                Some("SECRET"),
                &late,
            )
            .await
            .is_err());
        s.reset_operator("agent-late", &admin).await.unwrap();
        s.confirm_operator("agent-late", "hash-2", in_a_day(), &second)
            .await
            .unwrap();
        s.open_session(
            &session("late-2", "agent-late", SessionStage::Enrolment),
            None,
            Some("SECRET"),
            &late,
        )
        .await
        .unwrap();
    }

    /// CSV import jobs: a good line is registered and reported in one transaction, a refused
    /// line is reported alone, every line once and only by the job's operator; another
    /// instance reads the same job; old reports are forgotten when a job is created.
    /// Issue 19, finding 4: TOTP secrets are kept sealed by the HSM key. Without a sealer
    /// nothing is written; with one the column never holds the secret, in any encoding; a
    /// tampered value, or one moved to another operator's row, does not open; clear values
    /// left by an older version are sealed once, even by two instances at once.
    pub async fn totp_secrets_are_sealed(db: &Db) {
        use ca::storage::{NewSession, SessionStage};
        use pkix::sealing::SealError;
        let s = &db.store;
        let raw = db.raw().await;
        let admin = Actor::system("test-admin").unwrap();
        let agent = |login: &str| NewOperator {
            login: login.parse().unwrap(),
            display_name: "Agent".into(),
            role: OperatorRole::Clerk,
            order: Some(ca::domain::Order::Medecins),
        };
        let session = |token: &str, login: &str| NewSession {
            token_hash: token.into(),
            login: login.parse().unwrap(),
            auth_method: "test".into(),
            stage: SessionStage::Enrolment,
            csrf_token: "c".repeat(64),
            expires_at: in_a_day(),
        };
        let column = |login: &'static str| {
            let raw = raw.clone();
            async move {
                sqlx::query_scalar::<_, Option<String>>(
                    "SELECT totp_secret FROM ra_operators WHERE login = $1",
                )
                .bind(login)
                .fetch_one(&raw)
                .await
                .unwrap()
            }
        };
        let leaks = |stored: &str, secret: &str| {
            use base64::Engine as _;
            let bytes = secret.as_bytes();
            let b64 = base64::engine::general_purpose::STANDARD;
            [
                secret.to_owned(),
                secret.to_lowercase(),
                hex::encode(bytes),
                b64.encode(bytes),
                b64.encode(bytes).trim_end_matches('=').to_owned(),
            ]
            .iter()
            .any(|enc| stored.contains(enc.as_str()))
        };
        const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let second = Actor::system("test-admin-2").unwrap();
        for login in ["agent-a", "agent-b", "agent-c"] {
            s.create_operator(&agent(login), &admin).await.unwrap();
            s.confirm_operator(login, "hash-1", in_a_day(), &second)
                .await
                .unwrap();
        }

        // No sealer: the secret is refused, and nothing (not even the session) is written.
        let unsealed = db.unsealed_store().await;
        let before = audit_len(s).await;
        let err = unsealed
            .open_session(
                &session("t-a0", "agent-a"),
                None,
                Some(SECRET),
                &clerk("agent-a"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Sealing(SealError::Unavailable(_))),
            "{err}"
        );
        assert_eq!(column("agent-a").await, None);
        assert!(s.session("t-a0").await.unwrap().is_none());
        assert_eq!(audit_len(s).await, before);
        let creds = s.operator_credentials("agent-a").await.unwrap().unwrap();
        assert!(
            creds.otp_expires_at.is_some(),
            "one-time password not spent"
        );

        // With the sealer: sealed in the column, clear to the reader.
        s.open_session(
            &session("t-a1", "agent-a"),
            None,
            Some(SECRET),
            &clerk("agent-a"),
        )
        .await
        .unwrap();
        let stored = column("agent-a").await.unwrap();
        assert!(stored.starts_with("sealed:v1:"), "{stored}");
        assert!(!leaks(&stored, SECRET), "{stored}");
        let creds = s.operator_credentials("agent-a").await.unwrap().unwrap();
        assert_eq!(creds.totp_secret.as_deref(), Some(SECRET));
        // The same secret sealed twice reads differently (a fresh IV each time).
        s.open_session(
            &session("t-b1", "agent-b"),
            None,
            Some(SECRET),
            &clerk("agent-b"),
        )
        .await
        .unwrap();
        assert_ne!(column("agent-b").await.unwrap(), stored);
        // Without a sealer, a reader gets an error, never the sealed bytes as a secret.
        assert!(matches!(
            unsealed.operator_credentials("agent-a").await,
            Err(Error::Sealing(SealError::Unavailable(_)))
        ));
        // What carries no secret still reads without a sealer.
        assert!(unsealed.operator("agent-a").await.unwrap().is_some());

        let set = |login: &'static str, value: String| {
            let raw = raw.clone();
            async move {
                sqlx::query("UPDATE ra_operators SET totp_secret = $1 WHERE login = $2")
                    .bind(value)
                    .bind(login)
                    .execute(&raw)
                    .await
                    .unwrap();
            }
        };
        // Tampered: one byte of the ciphertext changed.
        let mut bytes = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(stored.strip_prefix("sealed:v1:").unwrap())
                .unwrap()
        };
        bytes[14] ^= 1;
        set("agent-a", ca::sealing::encode_sealed(&bytes)).await;
        let r = s.operator_credentials("agent-a").await;
        assert!(
            matches!(r, Err(Error::Sealing(SealError::DoesNotOpen))),
            "{r:?}"
        );
        set("agent-a", "sealed:v1:AAAA".into()).await;
        let r = s.operator_credentials("agent-a").await;
        assert!(
            matches!(r, Err(Error::Sealing(SealError::DoesNotOpen))),
            "{r:?}"
        );
        // Moved: agent-a's sealed secret copied into agent-c's row does not open there.
        set("agent-a", stored.clone()).await;
        set("agent-c", stored.clone()).await;
        let r = s.operator_credentials("agent-c").await;
        assert!(
            matches!(r, Err(Error::Sealing(SealError::DoesNotOpen))),
            "{r:?}"
        );
        assert_eq!(
            s.operator_credentials("agent-a")
                .await
                .unwrap()
                .unwrap()
                .totp_secret
                .as_deref(),
            Some(SECRET)
        );

        // Clear values left by an older version: refused to readers, sealed by the start-up
        // migration, once, even with two instances running it at once.
        set("agent-b", SECRET.into()).await;
        set("agent-c", "KRSXG5CTMVRXEZLU".into()).await;
        assert!(matches!(
            s.operator_credentials("agent-b").await,
            Err(Error::CorruptRow { .. })
        ));
        let before = audit_len(s).await;
        let other = db.second_store().await;
        let (n1, n2) = tokio::join!(s.seal_clear_totp_secrets(), other.seal_clear_totp_secrets());
        assert_eq!(n1.unwrap() + n2.unwrap(), 2);
        assert_eq!(audit_len(s).await, before + 2);
        assert_eq!(
            last_actions(s, 2).await,
            ["operator.totp-sealed", "operator.totp-sealed"]
        );
        assert_eq!(s.seal_clear_totp_secrets().await.unwrap(), 0);
        for (login, secret) in [("agent-b", SECRET), ("agent-c", "KRSXG5CTMVRXEZLU")] {
            let stored = column(login).await.unwrap();
            assert!(
                stored.starts_with("sealed:v1:") && !leaks(&stored, secret),
                "{stored}"
            );
            let creds = s.operator_credentials(login).await.unwrap().unwrap();
            assert_eq!(creds.totp_secret.as_deref(), Some(secret));
        }
        // The journal names the operators, never a secret.
        let entries = s.audit_entries(0, 10_000).await.unwrap();
        let journal = serde_json::to_string(&entries).unwrap();
        assert!(!leaks(&journal, SECRET) && !journal.contains("sealed:v1:"));
        // Without a sealer there is nothing to seal with: the migration refuses.
        set("agent-b", SECRET.into()).await;
        assert!(unsealed.seal_clear_totp_secrets().await.is_err());
        assert_eq!(column("agent-b").await.as_deref(), Some(SECRET));
        raw.close().await;
        unsealed.close().await;
        other.close().await;
    }

    pub async fn import_jobs_report_each_line_once(db: &Db) {
        use ca::storage::{ImportRow, NewImportJob, IMPORT_JOBS_KEPT_PER_OPERATOR};
        let s = &db.store;
        let admin = Actor::system("test-admin").unwrap();
        for login in ["agent-imp", "agent-other"] {
            let operator = NewOperator {
                login: login.parse().unwrap(),
                display_name: "Agent import".into(),
                role: OperatorRole::Clerk,
                order: Some(ca::domain::Order::Medecins),
            };
            s.create_operator(&operator, &admin).await.unwrap();
        }
        let (clerk_i, clerk_o) = (clerk("agent-imp"), clerk("agent-other"));
        let new_job = |id: &str, login: &str, rows: u64| NewImportJob {
            id: id.into(),
            login: login.into(),
            file_name: "lot.csv".into(),
            total_rows: rows,
        };
        let now = OffsetDateTime::now_utc();
        let month_ago = now - Duration::days(30);
        let minute_ago = now - Duration::minutes(1);
        let raw = db.raw().await;
        let set = |sql: &'static str| {
            let raw = raw.clone();
            async move { sqlx::query(sql).execute(&raw).await.unwrap() }
        };

        // A job of long ago, with a reported line: forgotten when the next job is created.
        s.create_import_job(
            &new_job("old", "agent-other", 1),
            month_ago,
            minute_ago,
            &clerk_o,
        )
        .await
        .unwrap();
        let refused = |line: u64, idnat: &str| ImportRow {
            line,
            idnat: idnat.into(),
            ok: false,
            message: "refusée".into(),
        };
        s.report_refused_import_row("old", &refused(2, "x"), &clerk_o)
            .await
            .unwrap();
        set(
            "UPDATE ra_import_jobs SET created_at = '2020-01-01T00:00:00.000000Z' WHERE id = 'old'",
        )
        .await;
        for bad in [
            new_job("empty", "agent-imp", 0),
            NewImportJob {
                file_name: "a\0b.csv".into(),
                ..new_job("nul", "agent-imp", 1)
            },
            NewImportJob {
                file_name: "x".repeat(256),
                ..new_job("long", "agent-imp", 1)
            },
        ] {
            let e = s
                .create_import_job(&bad, month_ago, minute_ago, &clerk_i)
                .await
                .unwrap_err();
            assert!(matches!(e, Error::InvalidValue { .. }), "{e:?}");
        }
        s.create_import_job(
            &new_job("j1", "agent-imp", 4),
            month_ago,
            minute_ago,
            &clerk_i,
        )
        .await
        .unwrap();
        assert!(
            s.import_job("old").await.unwrap().is_none(),
            "old job forgotten"
        );
        assert_eq!(last_actions(s, 1).await, ["professional.import"]);
        assert_eq!(
            s.running_import_jobs(minute_ago, "agent-imp")
                .await
                .unwrap(),
            (1, 1)
        );
        assert_eq!(
            s.running_import_jobs(minute_ago, "agent-other")
                .await
                .unwrap(),
            (1, 0)
        );
        assert!(
            s.create_import_job(
                &new_job("j1", "agent-imp", 4),
                month_ago,
                minute_ago,
                &clerk_i
            )
            .await
            .is_err(),
            "a job identifier is used once"
        );

        // Line 2 registered and reported together.
        let a = rpps(91_000_001);
        let p = professional(&a, "MARTIN", "10");
        s.register_imported_professional("j1", 2, &p, &proofing(), &clerk_i)
            .await
            .unwrap();
        assert!(s.find_professional(&a).await.unwrap().is_some());
        // Line 3, the same professional again: refused, nothing written, not even the line.
        let audit_before = audit_len(s).await;
        let e = s
            .register_imported_professional("j1", 3, &p, &proofing(), &clerk_i)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::AlreadyRegistered { .. }), "{e:?}");
        assert!(!e.is_system_failure());
        assert_eq!(audit_len(s).await, audit_before);
        assert_eq!(s.identity_proofings_of(&a).await.unwrap().len(), 1);
        assert_eq!(s.import_job("j1").await.unwrap().unwrap().rows.len(), 1);
        s.report_refused_import_row("j1", &refused(3, &a.to_string()), &clerk_i)
            .await
            .unwrap();
        // Each line once; a refusal cannot claim a registration; control characters and
        // over-long text are refused; only the job's operator reports its lines.
        let claimed = ImportRow {
            ok: true,
            ..refused(4, "z")
        };
        let nul = ImportRow {
            message: "a\0b".into(),
            ..refused(4, "z")
        };
        let long = refused(4, &"9".repeat(65));
        for (row, actor) in [
            (refused(3, "y"), &clerk_i),
            (claimed, &clerk_i),
            (nul, &clerk_i),
            (long, &clerk_i),
            (refused(4, "z"), &clerk_o),
        ] {
            assert!(
                s.report_refused_import_row("j1", &row, actor)
                    .await
                    .is_err(),
                "{row:?} by {}",
                actor.id.as_str()
            );
        }
        // A line reported under a job that does not exist, or not the actor's: refused, and
        // its professional not registered (one transaction).
        let b = rpps(91_000_002);
        imported_line_refused_whole(s, "nope", &b, &clerk_i).await;
        imported_line_refused_whole(s, "j1", &b, &clerk_o).await;

        // Another instance reads the same job, lines in file order.
        let other = db.second_store().await;
        s.report_refused_import_row("j1", &refused(5, "w"), &clerk_i)
            .await
            .unwrap();
        let job = other.import_job("j1").await.unwrap().unwrap();
        assert_eq!(job.login, "agent-imp");
        assert_eq!(job.file_name, "lot.csv");
        assert_eq!(job.total_rows, 4);
        assert!(job.finished_at.is_none());
        assert!(job.updated_at >= job.created_at);
        let lines: Vec<(u64, bool)> = job.rows.iter().map(|r| (r.line, r.ok)).collect();
        assert_eq!(lines, [(2, true), (3, false), (5, false)]);
        assert_eq!(job.rows[0].idnat, a.to_string());
        assert_eq!(job.rows[0].message, "");
        assert_eq!(job.rows[1].message, "refusée");

        // Issue 19, finding 5: a disabled operator's job stops at its next line — nothing
        // registered, nothing reported — and goes on when the operator is enabled again.
        s.set_operator_status("agent-imp", OperatorStatus::Disabled, &admin)
            .await
            .unwrap();
        imported_line_refused_whole(s, "j1", &b, &clerk_i).await;
        assert!(s
            .report_refused_import_row("j1", &refused(6, "v"), &clerk_i)
            .await
            .is_err());
        assert_eq!(s.import_job("j1").await.unwrap().unwrap().rows.len(), 3);
        s.set_operator_status("agent-imp", OperatorStatus::Active, &admin)
            .await
            .unwrap();

        // Silent for longer than the window: not counted as running.
        set("UPDATE ra_import_jobs SET updated_at = '2020-01-01T00:00:00.000000Z' WHERE id = 'j1'")
            .await;
        assert_eq!(
            s.running_import_jobs(minute_ago, "agent-imp")
                .await
                .unwrap(),
            (0, 0)
        );

        // Finished: counted no more, closed to new lines, finished once; a line for a finished
        // job leaves its professional unregistered.
        other.finish_import_job("j1").await.unwrap();
        assert!(s.finish_import_job("j1").await.is_err());
        let finished = s.import_job("j1").await.unwrap().unwrap();
        assert!(finished.finished_at.is_some());
        imported_line_refused_whole(s, "j1", &b, &clerk_i).await;
        assert!(s.import_job("nope").await.unwrap().is_none());

        // A job is created by its own operator only.
        let e = s
            .create_import_job(
                &new_job("theirs", "agent-imp", 1),
                month_ago,
                minute_ago,
                &clerk_o,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidValue { .. }), "{e:?}");

        // An operator keeps their most recent jobs, and any still running; another operator's
        // are untouched; a forgotten job's report goes with it.
        s.create_import_job(
            &new_job("o1", "agent-other", 1),
            month_ago,
            minute_ago,
            &clerk_o,
        )
        .await
        .unwrap();
        let jobs_of_imp = || async {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM ra_import_jobs WHERE login = 'agent-imp'")
                    .fetch_one(&raw)
                    .await
                    .unwrap();
            n
        };
        let create = |id: String| new_job(&id, "agent-imp", 1);
        for n in 0..IMPORT_JOBS_KEPT_PER_OPERATOR {
            s.create_import_job(&create(format!("k{n:02}")), month_ago, minute_ago, &clerk_i)
                .await
                .unwrap();
        }
        assert!(
            s.import_job("j1").await.unwrap().is_none(),
            "the oldest (finished) forgotten"
        );
        let j1_lines: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM ra_import_rows WHERE job_id = 'j1'")
                .fetch_one(&raw)
                .await
                .unwrap();
        assert_eq!(j1_lines, 0);
        assert!(s.import_job("o1").await.unwrap().is_some());
        let kept = i64::from(IMPORT_JOBS_KEPT_PER_OPERATOR);
        assert_eq!(jobs_of_imp().await, kept);
        // k00 is now beyond the most recent but still running: kept.
        s.create_import_job(&create("k50".into()), month_ago, minute_ago, &clerk_i)
            .await
            .unwrap();
        assert!(s.import_job("k00").await.unwrap().is_some());
        assert_eq!(jobs_of_imp().await, kept + 1);
        // Once silent (its instance stopped), it goes with the next job.
        set(
            "UPDATE ra_import_jobs SET updated_at = '2020-01-01T00:00:00.000000Z' WHERE id = 'k00'",
        )
        .await;
        s.create_import_job(&create("k51".into()), month_ago, minute_ago, &clerk_i)
            .await
            .unwrap();
        assert!(s.import_job("k00").await.unwrap().is_none());
        assert!(
            s.import_job("k01").await.unwrap().is_some(),
            "running, kept"
        );
        assert_eq!(jobs_of_imp().await, kept + 1);
        raw.close().await;
    }

    /// TSA token batches: one transaction, idempotent on retry, bad serials refused whole.
    pub async fn timestamp_tokens_recorded_once(db: &Db) {
        use ca::storage::TimestampTokenRecord;
        let s = &db.store;
        let token = |serial: &str| TimestampTokenRecord {
            serial_hex: serial.to_owned(),
            instance_id: 7,
            gen_time: db_precision(OffsetDateTime::now_utc()),
            policy: "1.3.6.1.5.5.7.13.8".into(),
            imprint_algorithm: "2.16.840.1.101.3.4.2.1".into(),
            imprint: vec![0xab; 32],
            token_sha256: [0x5a; 32],
        };
        let batch: Vec<_> = ["0007000000000001", "0007000000000002", "0007000000000003"]
            .iter()
            .map(|x| token(x))
            .collect();
        s.record_timestamp_tokens(&batch).await.unwrap();
        // A retried batch (the first two again, plus a new one) adds only the new one.
        let retry = vec![
            batch[0].clone(),
            batch[1].clone(),
            token("0007000000000004"),
        ];
        s.record_timestamp_tokens(&retry).await.unwrap();
        assert_eq!(s.timestamp_token_count().await.unwrap(), 4);
        assert_eq!(
            s.timestamp_token("0007000000000002")
                .await
                .unwrap()
                .unwrap(),
            batch[1]
        );
        assert!(s.timestamp_token("00ff").await.unwrap().is_none());
        // One bad serial refuses the whole batch: nothing of it is written. Serials are the
        // octets of at most 160 bits (the TSA's are 20 octets).
        let longest = "7fff0123456789abfeedf00d0000000000000001";
        for bad_serial in ["NOT-HEX", "007", &format!("00{longest}"), "00AB"] {
            let bad = vec![token("0007000000000005"), token(bad_serial)];
            assert!(
                s.record_timestamp_tokens(&bad).await.is_err(),
                "{bad_serial:?} accepted"
            );
        }
        assert_eq!(s.timestamp_token_count().await.unwrap(), 4);
        let widest = token(longest);
        s.record_timestamp_tokens(std::slice::from_ref(&widest))
            .await
            .unwrap();
        assert_eq!(s.timestamp_token(longest).await.unwrap().unwrap(), widest);
        assert_eq!(s.timestamp_token_count().await.unwrap(), 5);
        s.record_timestamp_tokens(&[]).await.unwrap();

        // A batch of several statements' worth (the TSA's batches under load), with a serial
        // twice in it and two already recorded: each token once, every column read back.
        let mut big: Vec<_> = (0..600u32)
            .map(|i| {
                let mut t = token(&format!("0008{i:012x}"));
                t.imprint = i.to_be_bytes().repeat(8);
                t.token_sha256[..4].copy_from_slice(&i.to_be_bytes());
                t
            })
            .collect();
        big.push(big[3].clone());
        big.push(batch[0].clone());
        big.insert(400, batch[2].clone());
        s.record_timestamp_tokens(&big).await.unwrap();
        assert_eq!(s.timestamp_token_count().await.unwrap(), 5 + 600);
        for i in [0usize, 249, 250, 599] {
            assert_eq!(
                s.timestamp_token(&big[i].serial_hex)
                    .await
                    .unwrap()
                    .unwrap(),
                big[i]
            );
        }

        // The whole of it again (a retry after a lost commit acknowledgement): every token is
        // checked against its record, a chunk at a time, and nothing is added; a different
        // token in a later chunk fails the batch and names its serial.
        s.record_timestamp_tokens(&big).await.unwrap();
        assert_eq!(s.timestamp_token_count().await.unwrap(), 5 + 600);
        let mut late_clash = big.clone();
        late_clash[530].token_sha256 = [0xee; 32];
        let err = s.record_timestamp_tokens(&late_clash).await.unwrap_err();
        assert!(
            matches!(&err, ca::Error::DuplicateTimestampSerial { serial } if *serial == big[530].serial_hex),
            "{err}"
        );
        assert_eq!(s.timestamp_token_count().await.unwrap(), 5 + 600);

        // Another token under a recorded serial (serials repeated by a misconfigured TSA) is not
        // skipped silently: the batch fails whole, the record stays the first token's.
        let mut impostor = batch[1].clone();
        impostor.token_sha256 = [0xee; 32];
        let clash = vec![token("0007000000000777"), impostor];
        let err = s.record_timestamp_tokens(&clash).await.unwrap_err();
        assert!(
            matches!(&err, ca::Error::DuplicateTimestampSerial { serial } if serial == "0007000000000002"),
            "{err}"
        );
        assert_eq!(s.timestamp_token_count().await.unwrap(), 5 + 600);
        assert_eq!(
            s.timestamp_token("0007000000000002")
                .await
                .unwrap()
                .unwrap(),
            batch[1]
        );
        // The same serial twice in one batch with two different tokens fails as well.
        let first = token("0007000000000888");
        let mut twin = first.clone();
        twin.token_sha256 = [0x11; 32];
        assert!(s.record_timestamp_tokens(&[first, twin]).await.is_err());
        assert_eq!(s.timestamp_token_count().await.unwrap(), 5 + 600);
    }

    pub async fn registration_and_audit(db: &Db) {
        let s = &db.store;
        let st = structure();
        s.register_structure(&st, &clerk("clerk-a")).await.unwrap();
        assert!(matches!(
            s.register_structure(&st, &clerk("clerk-a")).await,
            Err(Error::StructureAlreadyRegistered { .. })
        ));
        assert_eq!(s.find_structure(&st.idnat).await.unwrap(), Some(st.clone()));

        let idnat = rpps(1_000_000_001);
        let mut p = professional(&idnat, "Lefèvre", "10");
        p.structure = Some(st.idnat.clone());
        let proof = proofing();
        s.register_professional(&p, &proof, &clerk("clerk-a"))
            .await
            .unwrap();
        assert_eq!(s.find_professional(&idnat).await.unwrap(), Some(p.clone()));
        assert_eq!(
            s.find_professionals_by_name("LEFEVRE", 10).await.unwrap(),
            vec![p.clone()]
        );
        assert_eq!(
            s.find_professionals_by_name("lefèvre", 10).await.unwrap(),
            vec![p.clone()]
        );
        assert!(s
            .find_professionals_by_name("Martin", 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            s.identity_proofings_of(&idnat).await.unwrap(),
            vec![proof.clone()]
        );

        // An ADELI professional without structure.
        let adeli: IdNatPs = "02A1234567".parse().unwrap();
        let q = professional(&adeli, "Santoni", "60");
        s.register_professional(&q, &proofing(), &clerk("clerk-c"))
            .await
            .unwrap();
        assert_eq!(s.find_professional(&adeli).await.unwrap(), Some(q));
        assert_eq!(s.find_professional(&rpps(42)).await.unwrap(), None);

        // Registering twice is refused and journals nothing.
        let before = audit_len(s).await;
        assert!(matches!(
            s.register_professional(&p, &proof, &clerk("clerk-a")).await,
            Err(Error::AlreadyRegistered { .. })
        ));
        assert_eq!(audit_len(s).await, before);

        let entries = s.audit_entries(0, 100).await.unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].action, "structure.register");
        let e = &entries[1];
        assert_eq!(e.seq, 2);
        assert_eq!(e.action, "professional.register");
        assert_eq!(e.object, format!("professional:{idnat}"));
        assert_eq!(e.actor, "clerk-a");
        assert_eq!(e.auth_method, "tls-client-cert");
        assert_eq!(e.outcome, Outcome::Success);
        assert_eq!(e.details["profession"], "10");
        assert_eq!(e.details["structure"], st.idnat.to_string());
        assert_eq!(e.details["identity_proofing"]["mode"], "face-to-face");
        assert_eq!(e.details["identity_proofing"]["document_type"], "cni");
        // The document number stays out of the journal.
        assert!(!e
            .details
            .to_string()
            .contains(proof.document_number.as_str()));
        assert_eq!(entries[0].prev_hash, "0".repeat(64));
        assert_eq!(entries[1].prev_hash, entries[0].hash);
        assert_eq!(entries[2].prev_hash, entries[1].hash);
        assert!(entries[0].time <= entries[1].time && entries[1].time <= entries[2].time);

        let v = s.verify_audit_chain().await.unwrap();
        assert!(v.is_intact(), "{v:?}");
        assert_eq!(v.entries_checked, 3);
        assert_eq!(v.head_seq, 3);
        assert_eq!(v.head_hash, entries[2].hash);
    }

    pub async fn duplicate_serial_rejected(db: &Db) {
        let s = &db.store;
        let idnat = rpps(1_000_000_002);
        register(s, &idnat, "Martin").await;
        let serial = issue(s, &idnat, Profile::Auth, 0).await;
        let rec = s.certificate(&serial).await.unwrap().unwrap();
        assert_eq!(rec.profile, Profile::Auth);
        assert_eq!(rec.status, CertificateStatus::Good);
        assert_eq!(rec.der, der(9));
        assert_eq!(rec.professional, Some(idnat.clone()));

        let id2 = approved_request(s, &idnat, Profile::Sign).await;
        let before = audit_len(s).await;
        let err = s
            .record_issued_certificate(
                &new_cert(&serial, &idnat, Profile::Sign, 0),
                Some(id2),
                &ca_actor(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::DuplicateSerial { serial: x } if *x == serial.to_string()),
            "{err:?}"
        );
        // Nothing of the failed transaction remains: the request is still approved (its
        // move to "issued" was rolled back), no journal entry, the first certificate intact.
        assert_eq!(
            s.request(id2).await.unwrap().unwrap().status,
            RequestStatus::Approved
        );
        assert_eq!(audit_len(s).await, before);
        assert_eq!(s.certificate(&serial).await.unwrap().unwrap(), rec);

        // The same request then succeeds with a fresh serial.
        let fresh = Serial::random();
        s.record_issued_certificate(
            &new_cert(&fresh, &idnat, Profile::Sign, 0),
            Some(id2),
            &ca_actor(),
        )
        .await
        .unwrap();
        let req = s.request(id2).await.unwrap().unwrap();
        assert_eq!(req.status, RequestStatus::Issued);
        assert!(req.issued_at.is_some());
        assert_eq!(
            s.certificate(&fresh).await.unwrap().unwrap().request,
            Some(id2)
        );
        // …and cannot be used twice.
        assert!(matches!(
            s.record_issued_certificate(
                &new_cert(&Serial::random(), &idnat, Profile::Sign, 0),
                Some(id2),
                &ca_actor()
            )
            .await,
            Err(Error::RequestNotInState {
                expected: RequestStatus::Approved,
                found: RequestStatus::Issued,
                ..
            })
        ));
        assert!(s.verify_audit_chain().await.unwrap().is_intact());
    }

    pub async fn approve_own_request_refused(db: &Db) {
        let s = &db.store;
        let idnat = rpps(1_000_000_003);
        register(s, &idnat, "Bernard").await;
        let request = NewRequest {
            profile: Profile::Auth,
            subject: RequestSubject::Professional(idnat.clone()),
            csr_der: der(1),
        };
        let id = s.file_request(&request, &clerk("clerk-a")).await.unwrap();
        let before = audit_len(s).await;
        let err = s.approve_request(id, &clerk("clerk-a")).await.unwrap_err();
        assert!(
            matches!(&err, Error::SelfApproval { id: i, actor } if *i == id.0 && actor == "clerk-a"),
            "{err:?}"
        );
        assert_eq!(audit_len(s).await, before);
        let r = s.request(id).await.unwrap().unwrap();
        assert_eq!(r.status, RequestStatus::Filed);
        assert_eq!(r.decided_by, None);
        assert_eq!(r.csr_der, der(1));
        assert_eq!(r.filed_by.as_str(), "clerk-a");

        // Not yet approved: cannot be issued.
        assert!(matches!(
            s.record_issued_certificate(
                &new_cert(&Serial::random(), &idnat, Profile::Auth, 0),
                Some(id),
                &ca_actor()
            )
            .await,
            Err(Error::RequestNotInState {
                expected: RequestStatus::Approved,
                found: RequestStatus::Filed,
                ..
            })
        ));

        s.approve_request(id, &clerk("clerk-b")).await.unwrap();
        let r = s.request(id).await.unwrap().unwrap();
        assert_eq!(r.status, RequestStatus::Approved);
        assert_eq!(r.decided_by.unwrap().as_str(), "clerk-b");
        assert!(matches!(
            s.approve_request(id, &clerk("clerk-c")).await,
            Err(Error::RequestNotInState {
                expected: RequestStatus::Filed,
                found: RequestStatus::Approved,
                ..
            })
        ));
        assert!(matches!(
            s.approve_request(RequestId(999_999), &clerk("clerk-c"))
                .await,
            Err(Error::RequestNotFound { id: 999_999 })
        ));

        // A clerk may withdraw (reject) their own request.
        let id3 = s.file_request(&request, &clerk("clerk-a")).await.unwrap();
        s.reject_request(id3, "erreur de saisie", &clerk("clerk-a"))
            .await
            .unwrap();
        let r3 = s.request(id3).await.unwrap().unwrap();
        assert_eq!(r3.status, RequestStatus::Rejected);
        assert_eq!(r3.decision_note.as_deref(), Some("erreur de saisie"));
        let filed = s
            .requests_with_status(RequestStatus::Filed, None, 10)
            .await
            .unwrap();
        assert!(filed.is_empty());
        let approved = s
            .requests_with_status(RequestStatus::Approved, None, 10)
            .await
            .unwrap();
        assert_eq!(approved.iter().map(|r| r.id).collect::<Vec<_>>(), [id]);

        // Profile and subject must agree.
        assert!(matches!(
            s.file_request(
                &NewRequest {
                    profile: Profile::Server,
                    ..request.clone()
                },
                &clerk("clerk-a")
            )
            .await,
            Err(Error::ProfileMismatch { .. })
        ));

        // Four eyes also hold in the database itself.
        let id4 = s.file_request(&request, &clerk("clerk-a")).await.unwrap();
        let raw = db.raw().await;
        let sneaky = sqlx::query(
            "UPDATE certificate_requests SET status = 'approved', decided_by = filed_by, \
             decided_at = filed_at WHERE id = $1",
        )
        .bind(id4.0)
        .execute(&raw)
        .await;
        assert!(sneaky.is_err(), "self-approval accepted by the database");
        assert!(s.verify_audit_chain().await.unwrap().is_intact());
    }

    pub async fn revoke_twice_refused(db: &Db) {
        let s = &db.store;
        let idnat = rpps(1_000_000_004);
        register(s, &idnat, "Thomas").await;
        let serial = issue(s, &idnat, Profile::Sign, 0).await;
        assert_eq!(
            s.certificate_status(&serial).await.unwrap(),
            Some(CertificateStatus::Good)
        );
        let t = OffsetDateTime::now_utc();
        s.revoke(
            &serial,
            RevocationReason::KeyCompromise,
            t,
            &clerk("clerk-b"),
        )
        .await
        .unwrap();
        assert_eq!(
            s.certificate_status(&serial).await.unwrap(),
            Some(CertificateStatus::Revoked {
                at: db_precision(t),
                reason: RevocationReason::KeyCompromise
            })
        );
        assert_eq!(last_actions(s, 1).await, ["certificate.revoke"]);

        let before = audit_len(s).await;
        for reason in [
            RevocationReason::Unspecified,
            RevocationReason::KeyCompromise,
            RevocationReason::CertificateHold,
        ] {
            let err = s
                .revoke(
                    &serial,
                    reason,
                    OffsetDateTime::now_utc(),
                    &clerk("clerk-b"),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, Error::AlreadyRevoked { .. }), "{err:?}");
        }
        assert_eq!(audit_len(s).await, before);
        // The first revocation is what stays.
        assert_eq!(
            s.certificate_status(&serial).await.unwrap(),
            Some(CertificateStatus::Revoked {
                at: db_precision(t),
                reason: RevocationReason::KeyCompromise
            })
        );

        let unknown = Serial::random();
        assert_eq!(s.certificate_status(&unknown).await.unwrap(), None);
        assert!(matches!(
            s.revoke(
                &unknown,
                RevocationReason::KeyCompromise,
                t,
                &clerk("clerk-b")
            )
            .await,
            Err(Error::CertificateNotFound { .. })
        ));
    }

    /// Lost cards: the codes' hashes of the certificates still valid, wrong codes counted up
    /// to a lock, a declaration that suspends everything good (and clears the count), its
    /// decision once — revocation keyCompromise or reinstatement — each with its journal.
    pub async fn loss_declarations_suspend_then_decide(db: &Db) {
        let s = &db.store;
        let idnat = rpps(1_000_000_077);
        register(s, &idnat, "Perdu").await;
        let unknown = s
            .loss_code_state(&rpps(1_000_000_078), OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(!unknown.known && unknown.hashes.is_empty());
        let mut serials = Vec::new();
        for profile in [Profile::Auth, Profile::Sign] {
            let id = approved_request(s, &idnat, profile).await;
            let hash = ca::credentials::RevocationCode::generate().hash().unwrap();
            s.record_revocation_code(id, &idnat, &hash, &clerk("clerk-b"))
                .await
                .unwrap();
            // Issued again after a failure: the new code replaces the old one.
            s.record_revocation_code(id, &idnat, &hash, &clerk("clerk-b"))
                .await
                .unwrap();
            let serial = Serial::random();
            s.record_issued_certificate(
                &new_cert(&serial, &idnat, profile, 0),
                Some(id),
                &ca_actor(),
            )
            .await
            .unwrap();
            serials.push(serial);
        }
        serials.sort();
        let state = s
            .loss_code_state(&idnat, OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(state.known);
        assert_eq!(state.hashes.len(), 2);
        assert_eq!((state.failures, state.locked_until), (0, None));

        let holder = Actor::new("titulaire-test", "revocation-code").unwrap();
        let until = in_a_day();
        let details = json!({ "channel": "holder-portal" });
        for expected in [
            CodeFailure::Counted { failures: 1 },
            CodeFailure::Counted { failures: 2 },
            CodeFailure::Locked { until },
        ] {
            let got = s
                .record_loss_code_failure(&idnat, 3, until, &holder, &details)
                .await
                .unwrap();
            assert_eq!(got, expected);
        }
        let state = s
            .loss_code_state(&idnat, OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert_eq!(state.failures, 3);
        assert_eq!(state.locked_until, Some(db_precision(until)));
        assert_eq!(last_actions(s, 3).await, vec!["loss.declare"; 3]);
        // Once the lock has run out, the count starts again (and locks again at the limit).
        let raw = db.raw().await;
        sqlx::query("UPDATE loss_code_failures SET locked_until = '2000-01-01T00:00:00.000000Z'")
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        assert_eq!(
            s.record_loss_code_failure(&idnat, 3, until, &holder, &details)
                .await
                .unwrap(),
            CodeFailure::Counted { failures: 1 }
        );
        for expected in [
            CodeFailure::Counted { failures: 2 },
            CodeFailure::Locked { until },
        ] {
            let got = s
                .record_loss_code_failure(&idnat, 3, until, &holder, &details)
                .await
                .unwrap();
            assert_eq!(got, expected);
        }

        let d = s
            .declare_loss(&idnat, LossChannel::HolderPortal, &holder, &details)
            .await
            .unwrap();
        assert_eq!(d.serials, serials);
        assert_eq!(d.status, LossStatus::Open);
        for serial in &serials {
            assert!(matches!(
                s.certificate_status(serial).await.unwrap(),
                Some(CertificateStatus::OnHold { .. })
            ));
        }
        let state = s
            .loss_code_state(&idnat, OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert_eq!((state.failures, state.locked_until), (0, None));
        assert_eq!(
            last_actions(s, 3).await,
            vec!["certificate.hold", "certificate.hold", "loss.declare"]
        );
        assert_eq!(s.open_loss_declarations().await.unwrap(), vec![d.clone()]);

        let b = clerk("clerk-b");
        let revoked = s.close_loss_declaration(d.id, true, &b).await.unwrap();
        assert_eq!(revoked, serials);
        for serial in &serials {
            assert!(matches!(
                s.certificate_status(serial).await.unwrap(),
                Some(CertificateStatus::Revoked {
                    reason: RevocationReason::KeyCompromise,
                    ..
                })
            ));
        }
        assert!(matches!(
            s.close_loss_declaration(d.id, false, &b).await,
            Err(Error::LossDeclarationClosed {
                status: LossStatus::Revoked,
                ..
            })
        ));
        assert!(matches!(
            s.close_loss_declaration(d.id + 1000, true, &b).await,
            Err(Error::LossDeclarationNotFound { .. })
        ));
        assert!(s.open_loss_declarations().await.unwrap().is_empty());
        // Revoked certificates no longer count: their codes are not checked any more.
        let state = s
            .loss_code_state(&idnat, OffsetDateTime::now_utc())
            .await
            .unwrap();
        assert!(state.hashes.is_empty());

        // A new certificate, suspended by an operator, then reinstated.
        let serial = issue(s, &idnat, Profile::Conf, 0).await;
        let d2 = s
            .declare_loss(&idnat, LossChannel::Operator, &b, &json!({}))
            .await
            .unwrap();
        assert_eq!(d2.serials, vec![serial.clone()]);
        assert_eq!(
            s.close_loss_declaration(d2.id, false, &b).await.unwrap(),
            vec![serial.clone()]
        );
        assert_eq!(
            s.certificate_status(&serial).await.unwrap(),
            Some(CertificateStatus::Good)
        );
        let all = s.loss_declarations_of(&idnat).await.unwrap();
        assert_eq!(
            all.iter().map(|d| (d.id, d.status)).collect::<Vec<_>>(),
            vec![(d2.id, LossStatus::Reinstated), (d.id, LossStatus::Revoked)]
        );
        assert_eq!(all[0].closed_by.as_deref(), Some("clerk-b"));
    }

    pub async fn hold_reinstate_good(db: &Db) {
        let s = &db.store;
        let idnat = rpps(1_000_000_005);
        register(s, &idnat, "Petit").await;
        let serial = issue(s, &idnat, Profile::Auth, 0).await;
        let t = OffsetDateTime::now_utc();
        let b = clerk("clerk-b");

        s.revoke(&serial, RevocationReason::CertificateHold, t, &b)
            .await
            .unwrap();
        assert_eq!(
            s.certificate_status(&serial).await.unwrap(),
            Some(CertificateStatus::OnHold {
                since: db_precision(t)
            })
        );
        assert!(matches!(
            s.revoke(&serial, RevocationReason::CertificateHold, t, &b)
                .await,
            Err(Error::AlreadyOnHold { .. })
        ));

        s.reinstate(&serial, &b).await.unwrap();
        assert_eq!(
            s.certificate_status(&serial).await.unwrap(),
            Some(CertificateStatus::Good)
        );
        assert!(matches!(
            s.reinstate(&serial, &b).await,
            Err(Error::NotOnHold {
                status: CertStatus::Good,
                ..
            })
        ));

        // hold → revoked is allowed, and final.
        s.revoke(&serial, RevocationReason::CertificateHold, t, &b)
            .await
            .unwrap();
        s.revoke(&serial, RevocationReason::PrivilegeWithdrawn, t, &b)
            .await
            .unwrap();
        assert!(matches!(
            s.certificate_status(&serial).await.unwrap(),
            Some(CertificateStatus::Revoked {
                reason: RevocationReason::PrivilegeWithdrawn,
                ..
            })
        ));
        assert!(matches!(
            s.reinstate(&serial, &b).await,
            Err(Error::NotOnHold {
                status: CertStatus::Revoked,
                ..
            })
        ));
        assert!(matches!(
            s.reinstate(&Serial::random(), &b).await,
            Err(Error::CertificateNotFound { .. })
        ));
        assert_eq!(
            last_actions(s, 4).await,
            [
                "certificate.hold",
                "certificate.reinstate",
                "certificate.hold",
                "certificate.revoke"
            ]
        );
        assert!(s.verify_audit_chain().await.unwrap().is_intact());
    }

    pub async fn revoke_all_and_strike_off(db: &Db) {
        let s = &db.store;
        let a = rpps(1_000_000_006);
        let b = rpps(1_000_000_007);
        register(s, &a, "Robert").await;
        register(s, &b, "Richard").await;
        let auth = issue(s, &a, Profile::Auth, 0).await;
        let sign = issue(s, &a, Profile::Sign, 1).await;
        let conf = issue(s, &a, Profile::Conf, 2).await;
        let old = issue(s, &a, Profile::Auth, 0).await;
        let other = issue(s, &b, Profile::Auth, 0).await;
        let t = OffsetDateTime::now_utc();
        let clerk_b = clerk("clerk-b");
        s.revoke(&conf, RevocationReason::CertificateHold, t, &clerk_b)
            .await
            .unwrap();
        s.revoke(&old, RevocationReason::KeyCompromise, t, &clerk_b)
            .await
            .unwrap();
        assert_eq!(
            s.valid_certificates_of(&a, OffsetDateTime::now_utc())
                .await
                .unwrap()
                .len(),
            2
        );

        let before = audit_len(s).await;
        let t2 = OffsetDateTime::now_utc();
        let revoked = s
            .revoke_all_of_professional(&a, RevocationReason::AffiliationChanged, t2, &clerk_b)
            .await
            .unwrap();
        let mut expected = vec![auth.clone(), sign.clone(), conf.clone()];
        expected.sort();
        assert_eq!(revoked, expected);
        // One journal entry per certificate.
        assert_eq!(audit_len(s).await, before + 3);
        for serial in &expected {
            assert_eq!(
                s.certificate_status(serial).await.unwrap(),
                Some(CertificateStatus::Revoked {
                    at: db_precision(t2),
                    reason: RevocationReason::AffiliationChanged
                })
            );
        }
        // Already revoked: untouched.
        assert!(matches!(
            s.certificate_status(&old).await.unwrap(),
            Some(CertificateStatus::Revoked {
                reason: RevocationReason::KeyCompromise,
                ..
            })
        ));
        assert_eq!(
            s.certificate_status(&other).await.unwrap(),
            Some(CertificateStatus::Good)
        );
        assert!(s
            .valid_certificates_of(&a, OffsetDateTime::now_utc())
            .await
            .unwrap()
            .is_empty());
        assert!(s
            .revoke_all_of_professional(&a, RevocationReason::AffiliationChanged, t2, &clerk_b)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            s.revoke_all_of_professional(&rpps(7), RevocationReason::Unspecified, t2, &clerk_b)
                .await,
            Err(Error::ProfessionalNotFound { .. })
        ));

        // Striking off: status, revocation and refusal of new requests, in one go.
        let revoked_b = s.strike_off_professional(&b, t2, &clerk_b).await.unwrap();
        assert_eq!(revoked_b, vec![other.clone()]);
        assert_eq!(
            s.find_professional(&b).await.unwrap().unwrap().status,
            ProfessionalStatus::StruckOff
        );
        assert!(matches!(
            s.certificate_status(&other).await.unwrap(),
            Some(CertificateStatus::Revoked {
                reason: RevocationReason::AffiliationChanged,
                ..
            })
        ));
        assert!(matches!(
            s.file_request(
                &NewRequest {
                    profile: Profile::Auth,
                    subject: RequestSubject::Professional(b.clone()),
                    csr_der: der(1),
                },
                &clerk("clerk-a")
            )
            .await,
            Err(Error::ProfessionalNotActive { .. })
        ));
        assert!(matches!(
            s.strike_off_professional(&b, t2, &clerk_b).await,
            Err(Error::ProfessionalNotActive { .. })
        ));
        assert!(s.verify_audit_chain().await.unwrap().is_intact());
    }

    pub async fn directory_and_supersede(db: &Db) {
        let s = &db.store;
        let idnat = rpps(1_000_000_008);
        register(s, &idnat, "Durand").await;
        let first = issue(s, &idnat, Profile::Conf, 0).await;

        let id = approved_request(s, &idnat, Profile::Conf).await;
        let renewed = Serial::random();
        let mut cert = new_cert(&renewed, &idnat, Profile::Conf, 0);
        cert.supersedes = Some(first.clone());
        s.record_issued_certificate(&cert, Some(id), &ca_actor())
            .await
            .unwrap();
        assert_eq!(
            s.certificate(&first).await.unwrap().unwrap().superseded_by,
            Some(renewed.clone())
        );

        let now = OffsetDateTime::now_utc();
        let valid: BTreeSet<Serial> = s
            .valid_certificates_of(&idnat, now)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.serial)
            .collect();
        assert_eq!(valid, BTreeSet::from([first.clone(), renewed.clone()]));
        assert!(s
            .valid_certificates_of(&idnat, now - Duration::days(2))
            .await
            .unwrap()
            .is_empty());
        assert!(s
            .valid_certificates_of(&idnat, now + Duration::days(4 * 365))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(s.certificates_of(&idnat).await.unwrap().len(), 2);

        // A request's certificate must be what was requested.
        let id2 = approved_request(s, &idnat, Profile::Auth).await;
        assert!(matches!(
            s.record_issued_certificate(
                &new_cert(&Serial::random(), &idnat, Profile::Sign, 0),
                Some(id2),
                &ca_actor()
            )
            .await,
            Err(Error::RequestMismatch { .. })
        ));
        let other = rpps(1_000_000_009);
        register(s, &other, "Moreau").await;
        assert!(matches!(
            s.record_issued_certificate(
                &new_cert(&Serial::random(), &other, Profile::Auth, 0),
                Some(id2),
                &ca_actor()
            )
            .await,
            Err(Error::RequestMismatch { .. })
        ));
        // Professional certificates never bypass the request workflow.
        assert!(matches!(
            s.record_issued_certificate(
                &new_cert(&Serial::random(), &idnat, Profile::Auth, 0),
                None,
                &ca_actor()
            )
            .await,
            Err(Error::ProfileMismatch { .. })
        ));
        // Infrastructure certificates are recorded without request.
        let ocsp = Serial::random();
        let mut c = new_cert(&ocsp, &idnat, Profile::OcspSigner, 0);
        c.professional = None;
        s.record_issued_certificate(&c, None, &ca_actor())
            .await
            .unwrap();
        assert_eq!(
            s.certificate(&ocsp).await.unwrap().unwrap().profile,
            Profile::OcspSigner
        );
    }

    pub async fn crl_numbers_and_entries(db: &Db) {
        let s = &db.store;
        let ca = ca_name();
        let orgs: CaName = "CA Organisations".parse().unwrap();
        let sys = ca_actor();
        assert_eq!(s.last_crl_number(&ca, 0).await.unwrap(), None);
        for expected in 1..=3 {
            assert_eq!(s.next_crl_number(&ca, 0, &sys).await.unwrap(), expected);
        }
        assert_eq!(s.next_crl_number(&ca, 1, &sys).await.unwrap(), 1);
        assert_eq!(s.next_crl_number(&orgs, 0, &sys).await.unwrap(), 1);
        assert_eq!(s.next_crl_number(&ca, 0, &sys).await.unwrap(), 4);
        assert_eq!(s.last_crl_number(&ca, 0).await.unwrap(), Some(4));
        assert_eq!(last_actions(s, 1).await, ["crl.number"]);

        let idnat = rpps(1_000_000_010);
        register(s, &idnat, "Laurent").await;
        let t = OffsetDateTime::now_utc();
        let b = clerk("clerk-b");
        let mut expected = BTreeSet::new();
        let mut held = BTreeSet::new();
        for i in 0..30 {
            let serial = issue(s, &idnat, Profile::Auth, 0).await;
            match i % 10 {
                0..=5 => {
                    s.revoke(&serial, RevocationReason::KeyCompromise, t, &b)
                        .await
                        .unwrap();
                    expected.insert(serial);
                }
                6 => {
                    s.revoke(&serial, RevocationReason::CertificateHold, t, &b)
                        .await
                        .unwrap();
                    expected.insert(serial.clone());
                    held.insert(serial);
                }
                _ => {}
            }
        }
        let mut in_partition_1 = BTreeSet::new();
        for _ in 0..5 {
            let serial = issue(s, &idnat, Profile::Sign, 1).await;
            s.revoke(&serial, RevocationReason::Superseded, t, &b)
                .await
                .unwrap();
            in_partition_1.insert(serial);
        }

        let mut pages = s.revoked_entries_for_crl(&ca, 0).page_size(7);
        let mut seen = Vec::new();
        let mut page_count = 0;
        while let Some(page) = pages.next_page().await.unwrap() {
            assert!(page.len() <= 7);
            page_count += 1;
            seen.extend(page);
        }
        assert!(pages.next_page().await.unwrap().is_none());
        assert_eq!(page_count, 3); // 21 entries: 7 + 7 + 7 (then an empty read ends it)
        assert_eq!(seen.len(), expected.len());
        let serials: Vec<Serial> = seen.iter().map(|e| e.serial.clone()).collect();
        assert_eq!(serials.iter().cloned().collect::<BTreeSet<_>>(), expected);
        for e in &seen {
            assert_eq!(e.revoked_at, db_precision(t));
            let want = if held.contains(&e.serial) {
                RevocationReason::CertificateHold
            } else {
                RevocationReason::KeyCompromise
            };
            assert_eq!(e.reason, want);
        }

        let mut p1 = s.revoked_entries_for_crl(&ca, 1);
        let page = p1.next_page().await.unwrap().unwrap();
        assert_eq!(
            page.into_iter().map(|e| e.serial).collect::<BTreeSet<_>>(),
            in_partition_1
        );
        assert!(p1.next_page().await.unwrap().is_none());
        assert!(s
            .revoked_entries_for_crl(&ca, 2)
            .next_page()
            .await
            .unwrap()
            .is_none());
        assert!(s
            .revoked_entries_for_crl(&orgs, 0)
            .next_page()
            .await
            .unwrap()
            .is_none());
    }

    pub async fn concurrent_crl_numbers(db: &Db) {
        let ca = ca_name();
        let stores = [db.store.clone(), db.second_store().await];
        const TASKS_PER_STORE: usize = 3;
        const PER_TASK: usize = 20;
        let mut handles = Vec::new();
        for store in &stores {
            for _ in 0..TASKS_PER_STORE {
                let store = store.clone();
                let ca = ca.clone();
                handles.push(tokio::spawn(async move {
                    let mut got = Vec::with_capacity(PER_TASK);
                    for _ in 0..PER_TASK {
                        got.push(store.next_crl_number(&ca, 0, &ca_actor()).await.unwrap());
                    }
                    got
                }));
            }
        }
        let mut all = Vec::new();
        for h in handles {
            let got = h.await.unwrap();
            // Each allocator sees strictly increasing numbers…
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            all.extend(got);
        }
        // …and no two allocators ever got the same one.
        let total = stores.len() * TASKS_PER_STORE * PER_TASK;
        let distinct: BTreeSet<u64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), total);
        assert_eq!(distinct, (1..=total as u64).collect());
        assert_eq!(
            db.store.last_crl_number(&ca, 0).await.unwrap(),
            Some(total as u64)
        );
        assert!(db.store.verify_audit_chain().await.unwrap().is_intact());
    }

    pub async fn audit_tampering_detected(db: &Db) {
        let s = &db.store;
        let actor = clerk("clerk-a");
        for i in 0..5 {
            s.record_event(
                &actor,
                "session.login",
                &format!("session:{i}"),
                Outcome::Success,
                &json!({ "i": i }),
            )
            .await
            .unwrap();
        }
        let v = s.verify_audit_chain().await.unwrap();
        assert!(v.is_intact());
        assert_eq!(v.head_seq, 5);

        let raw = db.raw().await;
        let original: String = sqlx::query_scalar("SELECT details FROM audit_log WHERE seq = 3")
            .fetch_one(&raw)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET details = $1 WHERE seq = 3")
            .bind(r#"{"i":30}"#)
            .execute(&raw)
            .await
            .unwrap();
        let v = s.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken_seq(), Some(3), "{v:?}");
        assert_eq!(v.first_broken.unwrap().problem, ChainProblem::HashMismatch);
        assert_eq!(v.entries_checked, 2);

        // Put it back: intact again.
        sqlx::query("UPDATE audit_log SET details = $1 WHERE seq = 3")
            .bind(&original)
            .execute(&raw)
            .await
            .unwrap();
        assert!(s.verify_audit_chain().await.unwrap().is_intact());

        // An actor rewritten *and* its hash recomputed is caught by the next link.
        sqlx::query("UPDATE audit_log SET outcome = 'denied', hash = $1 WHERE seq = 4")
            .bind("ab".repeat(32))
            .execute(&raw)
            .await
            .unwrap();
        let v = s.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken_seq(), Some(4));

        // A deleted entry is named too.
        sqlx::query("DELETE FROM audit_log WHERE seq = 2")
            .execute(&raw)
            .await
            .unwrap();
        let v = s.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken_seq(), Some(2));
        assert_eq!(v.first_broken.unwrap().problem, ChainProblem::Missing);
    }

    /// Anchors of the journal: one per entry, only over that entry's stored hash; two
    /// instances anchoring the same head at once record one; the chain walk hands back the
    /// encodings whose SHA-256 the anchors time-stamp; a corrupt stored token is named.
    pub async fn audit_anchors_recorded_once(db: &Db) {
        use sha2::Digest as _;
        let s = &db.store;
        let actor = clerk("clerk-a");
        for i in 0..4 {
            s.record_event(
                &actor,
                "session.login",
                &format!("session:{i}"),
                Outcome::Success,
                &json!({ "i": i }),
            )
            .await
            .unwrap();
        }
        let (head, head_hash) = s.audit_head().await.unwrap();
        assert_eq!(head, 4);
        let encoding = s.audit_entry_encoding(4).await.unwrap().unwrap();
        assert_eq!(hex::encode(sha2::Sha256::digest(&encoding)), head_hash);
        assert!(s.audit_entry_encoding(99).await.unwrap().is_none());
        let hash_of =
            |seq: u64| async move { s.audit_entries(seq - 1, 1).await.unwrap()[0].hash.clone() };
        let gen_time = db_precision(OffsetDateTime::now_utc());
        let anchor = |seq: u64, head_hash: String| NewAuditAnchor {
            seq,
            head_hash,
            token_der: vec![0x30, 0x03, 0x02, 0x01, seq as u8],
            gen_time,
        };

        // Only over an existing entry, with its stored hash.
        assert!(s
            .record_audit_anchor(&anchor(4, "ab".repeat(32)))
            .await
            .is_err());
        assert!(s
            .record_audit_anchor(&anchor(99, head_hash.clone()))
            .await
            .is_err());
        assert!(s.audit_anchors().await.unwrap().is_empty());

        assert!(s
            .record_audit_anchor(&anchor(4, head_hash.clone()))
            .await
            .unwrap());
        // Anchoring the same head again records nothing.
        assert!(!s
            .record_audit_anchor(&anchor(4, head_hash.clone()))
            .await
            .unwrap());

        // Two instances anchor entry 2 at once: one row.
        let other = db.second_store().await;
        let h2 = hash_of(2).await;
        let second = anchor(2, h2.clone());
        let (a, b) = tokio::join!(
            s.record_audit_anchor(&second),
            other.record_audit_anchor(&second)
        );
        assert!(
            a.unwrap() ^ b.unwrap(),
            "exactly one instance records the anchor"
        );
        other.close().await;

        let anchors = s.audit_anchors().await.unwrap();
        assert_eq!(anchors.iter().map(|a| a.seq).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(anchors[1].head_hash, head_hash);
        assert_eq!(anchors[1].token_der, anchor(4, String::new()).token_der);
        assert_eq!(anchors[1].gen_time, gen_time);
        assert_eq!(s.audit_anchor(4).await.unwrap().unwrap(), anchors[1]);
        assert!(s.audit_anchor(3).await.unwrap().is_none());

        // The walk keeps the checked encodings asked for.
        let keep = BTreeSet::from([2, 4, 7]);
        let (v, kept) = s.verify_audit_chain_keeping(&keep).await.unwrap();
        assert!(v.is_intact());
        assert_eq!(kept.keys().copied().collect::<Vec<_>>(), [2, 4]);
        assert_eq!(hex::encode(sha2::Sha256::digest(&kept[&2])), h2);
        assert_eq!(kept[&4], encoding);

        // Entry 3 altered: the walk stops there and keeps only what precedes it.
        let raw = db.raw().await;
        sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
            .execute(&raw)
            .await
            .unwrap();
        let (v, kept) = s.verify_audit_chain_keeping(&keep).await.unwrap();
        assert_eq!(v.first_broken_seq(), Some(3));
        assert_eq!(kept.keys().copied().collect::<Vec<_>>(), [2]);

        // A stored token that is not base64: an error naming the anchor, not a panic.
        sqlx::query("UPDATE audit_anchors SET token = '%%%' WHERE seq = 4")
            .execute(&raw)
            .await
            .unwrap();
        let e = s.audit_anchors().await.unwrap_err().to_string();
        assert!(e.contains("anchor #4"), "{e}");
        raw.close().await;
    }

    pub async fn concurrent_audit_appends(db: &Db) {
        let stores = [db.store.clone(), db.second_store().await];
        const TASKS_PER_STORE: usize = 3;
        const PER_TASK: usize = 20;
        let mut handles = Vec::new();
        for (si, store) in stores.iter().enumerate() {
            for task in 0..TASKS_PER_STORE {
                let store = store.clone();
                handles.push(tokio::spawn(async move {
                    let actor = clerk(&format!("clerk-{si}-{task}"));
                    for i in 0..PER_TASK {
                        store
                            .record_event(
                                &actor,
                                "test.event",
                                &format!("event:{si}/{task}/{i}"),
                                Outcome::Success,
                                &json!({ "i": i }),
                            )
                            .await
                            .unwrap();
                    }
                }));
            }
        }
        for h in handles {
            h.await.unwrap();
        }
        let total = (stores.len() * TASKS_PER_STORE * PER_TASK) as u64;
        let v = db.store.verify_audit_chain().await.unwrap();
        assert!(v.is_intact(), "{v:?}");
        assert_eq!(v.head_seq, total);
        assert_eq!(v.entries_checked, total);
        let entries = db.store.audit_entries(0, 1000).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=total).collect::<Vec<_>>()
        );
        let objects: BTreeSet<&str> = entries.iter().map(|e| e.object.as_str()).collect();
        assert_eq!(objects.len() as u64, total);
        // Entries are time-stamped under the chain lock: time never goes back along the chain.
        assert!(entries.windows(2).all(|w| w[0].time <= w[1].time));
    }

    /// Every audited change commits with its journal entry or not at all: with the journal
    /// refusing inserts, each operation fails and leaves the state as it was (no revocation,
    /// issuance, decision, registration, operator change or CRL number without its entry).
    pub async fn journal_failure_undoes_the_change(db: &Db) {
        use RevocationReason::*;
        let s = &db.store;
        let (clerk_a, clerk_b, admin) = (clerk("clerk-a"), clerk("clerk-b"), clerk("admin-1"));
        let a = rpps(1_000_000_021);
        let newcomer = rpps(1_000_000_022);
        register(s, &a, "Vidal").await;
        let good = issue(s, &a, Profile::Auth, 0).await;
        let held = issue(s, &a, Profile::Sign, 1).await;
        let t = OffsetDateTime::now_utc();
        s.revoke(&held, CertificateHold, t, &clerk_b).await.unwrap();
        let held_status = s.certificate_status(&held).await.unwrap();
        assert!(matches!(
            held_status,
            Some(CertificateStatus::OnHold { .. })
        ));
        let conf_request = NewRequest {
            profile: Profile::Conf,
            subject: RequestSubject::Professional(a.clone()),
            csr_der: der(1),
        };
        let filed = s.file_request(&conf_request, &clerk_a).await.unwrap();
        let approved = approved_request(s, &a, Profile::Auth).await;
        let agent = |login: &str| NewOperator {
            login: login.parse().unwrap(),
            display_name: "Agent".into(),
            role: OperatorRole::Clerk,
            order: Some(ca::domain::Order::Medecins),
        };
        s.create_operator(&agent("agent-x"), &admin).await.unwrap();
        let agent_before = s.operator_credentials("agent-x").await.unwrap().unwrap();
        let ca = ca_name();
        s.next_crl_number(&ca, 0, &ca_actor()).await.unwrap();
        let crl_before = s.last_crl_number(&ca, 0).await.unwrap();
        let epoch_before = s.crl_epoch(&ca).await.unwrap();
        let allocated_before = s.last_allocated_crl_number(&ca).await.unwrap();
        let requests_before = s.requests_of(&a).await.unwrap().len();
        let head = s.audit_head().await.unwrap();

        refuse_journal(db, true).await;
        let new_serial = Serial::random();
        let refused = [
            ("revoke", s.revoke(&good, KeyCompromise, t, &clerk_b).await),
            ("hold", s.revoke(&good, CertificateHold, t, &clerk_b).await),
            (
                "revoke held",
                s.revoke(&held, Superseded, t, &clerk_b).await,
            ),
            ("reinstate", s.reinstate(&held, &clerk_b).await),
            (
                "revoke all",
                s.revoke_all_of_professional(&a, AffiliationChanged, t, &clerk_b)
                    .await
                    .map(drop),
            ),
            (
                "strike off",
                s.strike_off_professional(&a, t, &clerk_b).await.map(drop),
            ),
            (
                "issue",
                s.record_issued_certificate(
                    &new_cert(&new_serial, &a, Profile::Auth, 0),
                    Some(approved),
                    &ca_actor(),
                )
                .await,
            ),
            (
                "file",
                s.file_request(&conf_request, &clerk_a).await.map(drop),
            ),
            ("approve", s.approve_request(filed, &clerk_b).await),
            ("reject", s.reject_request(filed, "erreur", &clerk_b).await),
            (
                "register professional",
                s.register_professional(
                    &professional(&newcomer, "Vincent", "10"),
                    &proofing(),
                    &clerk_a,
                )
                .await,
            ),
            (
                "register structure",
                s.register_structure(&structure(), &clerk_a).await,
            ),
            (
                "create operator",
                s.create_operator(&agent("agent-y"), &admin).await,
            ),
            (
                "disable operator",
                s.set_operator_status("agent-x", OperatorStatus::Disabled, &admin)
                    .await,
            ),
            ("reset operator", s.reset_operator("agent-x", &admin).await),
            (
                "login failure",
                s.record_login_failure("agent-x", 3, t, &clerk("agent-x"), "bad password")
                    .await,
            ),
            (
                "CRL number",
                s.next_crl_number(&ca, 0, &ca_actor()).await.map(drop),
            ),
            (
                "CRL numbers",
                s.allocate_crl_numbers(&ca, 2, true, &ca_actor())
                    .await
                    .map(drop),
            ),
            (
                "CRL epoch",
                s.bump_crl_epoch(&ca, &ca_actor()).await.map(drop),
            ),
            (
                "event",
                s.record_event(
                    &admin,
                    "hsm.login",
                    "token:ca",
                    Outcome::Success,
                    &json!({}),
                )
                .await
                .map(drop),
            ),
        ];

        // Nothing of it was kept.
        assert_eq!(
            s.certificate_status(&good).await.unwrap(),
            Some(CertificateStatus::Good)
        );
        assert_eq!(s.certificate_status(&held).await.unwrap(), held_status);
        assert_eq!(s.certificate(&new_serial).await.unwrap(), None);
        assert_eq!(
            s.request(approved).await.unwrap().unwrap().status,
            RequestStatus::Approved
        );
        assert_eq!(
            s.request(filed).await.unwrap().unwrap().status,
            RequestStatus::Filed
        );
        assert_eq!(s.requests_of(&a).await.unwrap().len(), requests_before);
        assert_eq!(
            s.find_professional(&a).await.unwrap().unwrap().status,
            ProfessionalStatus::Active
        );
        assert_eq!(s.find_professional(&newcomer).await.unwrap(), None);
        assert_eq!(s.find_structure(&structure().idnat).await.unwrap(), None);
        assert_eq!(s.operator("agent-y").await.unwrap(), None);
        let agent_after = s.operator_credentials("agent-x").await.unwrap().unwrap();
        assert_eq!(agent_after.operator.status, OperatorStatus::Active);
        assert_eq!(agent_after.password_hash, agent_before.password_hash);
        assert_eq!(agent_after.failed_logins, agent_before.failed_logins);
        assert_eq!(s.last_crl_number(&ca, 0).await.unwrap(), crl_before);
        assert_eq!(s.crl_epoch(&ca).await.unwrap(), epoch_before);
        assert_eq!(
            s.last_allocated_crl_number(&ca).await.unwrap(),
            allocated_before
        );
        assert_eq!(s.audit_head().await.unwrap(), head);
        // Each refused by the journal, not for another reason.
        for (what, result) in refused {
            let err = result.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.contains("journal refused by the test"),
                "{what}: {err:?} (not refused by the journal)"
            );
        }

        // With the journal back, the same change goes through with its entry.
        refuse_journal(db, false).await;
        s.revoke(&good, KeyCompromise, t, &clerk_b).await.unwrap();
        assert_eq!(last_actions(s, 1).await, ["certificate.revoke"]);
        assert_eq!(audit_len(s).await, head.0 + 1);
        assert!(s.verify_audit_chain().await.unwrap().is_intact());
    }

    pub async fn failed_operation_leaves_nothing(db: &Db) {
        let s = &db.store;
        let idnat = rpps(1_000_000_011);
        register(s, &idnat, "Simon").await;
        let serial = issue(s, &idnat, Profile::Auth, 0).await;
        let head = s.audit_head().await.unwrap();

        // Registration referring to an unknown structure: refused, no professional, no
        // identity proofing, no journal entry.
        let ghost = rpps(1_000_000_012);
        let mut p = professional(&ghost, "Michel", "10");
        p.structure = Some("4732829320".parse().unwrap());
        assert!(matches!(
            s.register_professional(&p, &proofing(), &clerk("clerk-a"))
                .await,
            Err(Error::StructureNotFound { .. })
        ));
        assert_eq!(s.find_professional(&ghost).await.unwrap(), None);
        assert!(s.identity_proofings_of(&ghost).await.unwrap().is_empty());

        // Issuance failing at its last write (the certificate to supersede does not exist),
        // after the request moved to issued and the certificate row was inserted: all undone.
        assert_eq!(s.audit_head().await.unwrap(), head);
        let id = approved_request(s, &idnat, Profile::Auth).await;
        let head_after_request = s.audit_head().await.unwrap();
        assert_eq!(head_after_request.0, head.0 + 2); // file + approve
        let new_serial = Serial::random();
        let mut cert = new_cert(&new_serial, &idnat, Profile::Auth, 0);
        cert.supersedes = Some(Serial::random());
        assert!(matches!(
            s.record_issued_certificate(&cert, Some(id), &ca_actor())
                .await,
            Err(Error::CertificateNotFound { .. })
        ));
        assert_eq!(s.certificate(&new_serial).await.unwrap(), None);
        assert_eq!(
            s.request(id).await.unwrap().unwrap().status,
            RequestStatus::Approved
        );
        assert_eq!(s.audit_head().await.unwrap(), head_after_request);

        // A journal entry with a secret in it is refused before anything is written.
        assert!(matches!(
            s.record_event(
                &clerk("clerk-a"),
                "hsm.login",
                "token:ca",
                Outcome::Failure,
                &json!({ "pin": "1234" })
            )
            .await,
            Err(Error::SecretInAuditDetails { .. })
        ));
        assert_eq!(s.audit_head().await.unwrap(), head_after_request);

        // Revoking with a time the store cannot represent fails before the update commits.
        assert!(s
            .revoke(
                &serial,
                RevocationReason::KeyCompromise,
                OffsetDateTime::now_utc().replace_year(-5).unwrap(),
                &clerk("clerk-b")
            )
            .await
            .is_err());
        assert_eq!(
            s.certificate_status(&serial).await.unwrap(),
            Some(CertificateStatus::Good)
        );
        assert_eq!(s.audit_head().await.unwrap(), head_after_request);
        assert!(s.verify_audit_chain().await.unwrap().is_intact());
    }
}
