//! The daily listings of the RA (issue 25): search, pending requests, the operator's own
//! requests, expiring certificates, home-page counts. The operator's scope is applied in SQL,
//! before any limit. Every scenario runs on SQLite and on PostgreSQL (a private cluster
//! started by `support::pg`; PostgreSQL missing is a failure unless `IGC_SKIP_PG=1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use ca::domain::{
    Actor, CaName, IdNatPs, IdentityDocumentType, IdentityProofing, Order, ProfessionTable,
    Professional, ProfessionalStatus, Profile, ProofingMode, RevocationReason, Serial,
};
use ca::status::StatusSinks;
use ca::storage::{
    db_precision, CertificateStatus, NewCertificate, NewOperator, NewRequest, Operator,
    OperatorRole, OperatorStatus, RequestId, RequestSubject, SessionRecord, SessionStage, Store,
};
use ca::workflow::{AuthenticatedOperator, Search, Workflow, PAGE_SIZE};
use support::pg::PgCluster;
use time::{Duration, OffsetDateTime};

/// A store under test, with what keeps its database alive.
struct Db {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgCluster>,
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ca.db").display());
    Db {
        store: Store::connect(&url).await.unwrap(),
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
    let url = pg.create_database("igc_listings").unwrap();
    Some(Db {
        store: Store::connect(&url).await.unwrap(),
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
    search_applies_the_scope_before_the_limit,
    pending_in_scope_oldest_first,
    search_by_part_of_name_serial_and_pages,
    own_requests_with_rejection_reason,
    expiring_certificates_in_scope,
    locked_and_unconfirmed_accounts,
);

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

/// IdNat_PS `8` + an RPPS built from `n` with its Luhn key (IdNat order is `n` order).
fn rpps(n: u64) -> IdNatPs {
    let payload = format!("{n:010}");
    format!("8{payload}{}", luhn_key(&payload)).parse().unwrap()
}

fn clerk_actor(id: &str) -> Actor {
    Actor::new(id, "password+totp").unwrap()
}

/// Profession codes of the built-in table: a médecin, a pharmacien, an audioprothésiste
/// (no Order).
const MEDECIN: &str = "10";
const PHARMACIEN: &str = "21";
const AUDIOPROTHESISTE: &str = "26";

async fn register(store: &Store, n: u64, surname: &str, given: &str, profession: &str) -> IdNatPs {
    let idnat = rpps(n);
    let p = Professional {
        idnat: idnat.clone(),
        surname: surname.parse().unwrap(),
        given_names: given.parse().unwrap(),
        profession: profession.parse().unwrap(),
        structure: None,
        status: ProfessionalStatus::Active,
    };
    let proofing = IdentityProofing {
        document_type: IdentityDocumentType::Cni,
        document_number: "X4RT12AB9".parse().unwrap(),
        mode: ProofingMode::FaceToFace,
        checked_by: "clerk-a".parse().unwrap(),
        checked_at: db_precision(OffsetDateTime::now_utc() - Duration::hours(1)),
    };
    store
        .register_professional(&p, &proofing, &clerk_actor("clerk-a"))
        .await
        .unwrap();
    idnat
}

/// A stand-in DER SEQUENCE (the store does not parse it).
fn der(tag: u8) -> Vec<u8> {
    vec![0x30, 0x03, 0x02, 0x01, tag]
}

async fn file(store: &Store, idnat: &IdNatPs, by: &str) -> RequestId {
    store
        .file_request(
            &NewRequest {
                profile: Profile::Auth,
                subject: RequestSubject::Professional(idnat.clone()),
                csr_der: der(1),
            },
            &clerk_actor(by),
        )
        .await
        .unwrap()
}

/// Files (`clerk-a`), approves (`clerk-b`) and records a certificate for `idnat` expiring
/// `days` days from now (negative: expired).
async fn certificate(store: &Store, idnat: &IdNatPs, days: i64) -> Serial {
    let id = file(store, idnat, "clerk-a").await;
    store
        .approve_request(id, &clerk_actor("clerk-b"))
        .await
        .unwrap();
    let serial = Serial::random();
    let now = OffsetDateTime::now_utc();
    let not_after = now + Duration::days(days);
    store
        .record_issued_certificate(
            &NewCertificate {
                serial: serial.clone(),
                issuer: "CA Personnes".parse::<CaName>().unwrap(),
                profile: Profile::Auth,
                professional: Some(idnat.clone()),
                structure: None,
                subject: format!("C=FR, CN={idnat}"),
                not_before: not_after - Duration::days(1000),
                not_after,
                der: der(9),
                crl_partition: 0,
                supersedes: None,
            },
            Some(id),
            &Actor::system("ca").unwrap(),
        )
        .await
        .unwrap();
    serial
}

fn workflow(store: &Store) -> Workflow {
    Workflow::new(
        store.clone(),
        Arc::new(ProfessionTable::builtin().unwrap()),
        Vec::new(),
        Arc::new(StatusSinks::none()),
    )
}

/// An operator as the workflow takes them after a login (nothing stored: the listings read
/// only the role, the Order and the login).
fn operator(login: &str, role: OperatorRole, order: Option<Order>) -> AuthenticatedOperator {
    let now = OffsetDateTime::now_utc();
    let operator = Operator {
        login: login.parse().unwrap(),
        display_name: login.to_owned(),
        role,
        order,
        status: OperatorStatus::Active,
        must_change_password: false,
        totp_enrolled: true,
        created_at: now,
        awaiting_confirmation_by: None,
    };
    let session = SessionRecord {
        token_hash: "0".repeat(64),
        login: operator.login.clone(),
        auth_method: "password+totp".into(),
        stage: SessionStage::Full,
        csrf_token: String::new(),
        created_at: now,
        last_seen: now,
        expires_at: now + Duration::hours(1),
    };
    AuthenticatedOperator::of_session(&session, Some(operator)).unwrap()
}

mod scenarios {
    use super::*;

    /// More professionals of another Order than the search's limit come before (in IdNat
    /// order) the one of the operator's Order: the operator still finds theirs.
    pub async fn search_applies_the_scope_before_the_limit(db: &Db) {
        let store = &db.store;
        for n in 1..=101 {
            register(store, n, "Martin", "Paul", PHARMACIEN).await;
        }
        let mine = register(store, 500, "Martin", "Jeanne", MEDECIN).await;
        let wf = workflow(store);
        let clerk = operator("clerk-med", OperatorRole::Clerk, Some(Order::Medecins));
        let found = wf.search(&clerk, Search::Name("martin")).await.unwrap();
        let ids: Vec<String> = found.iter().map(|p| p.idnat.to_string()).collect();
        assert_eq!(ids, [mine.to_string()]);
    }

    /// Filed requests of the operator's Order only, oldest first, even when many requests of
    /// another Order were filed before.
    pub async fn pending_in_scope_oldest_first(db: &Db) {
        let store = &db.store;
        let pharmacien = register(store, 1, "Durand", "Luc", PHARMACIEN).await;
        let medecin = register(store, 2, "Bernard", "Anne", MEDECIN).await;
        for _ in 0..210 {
            file(store, &pharmacien, "clerk-pharma").await;
        }
        let first = file(store, &medecin, "clerk-med").await;
        let second = file(store, &medecin, "clerk-med").await;
        let wf = workflow(store);
        let approver = operator(
            "approver-med",
            OperatorRole::Approver,
            Some(Order::Medecins),
        );
        let pending = wf.pending_requests(&approver, 1).await.unwrap();
        let ids: Vec<_> = pending.items.iter().map(|r| r.id).collect();
        assert_eq!(ids, [first, second]);
        assert!(!pending.has_next);
        assert_eq!(pending.items[0].surname, "Bernard");
        assert_eq!(wf.pending_count(&approver).await.unwrap(), 2);
        let pharma = operator(
            "approver-ph",
            OperatorRole::Approver,
            Some(Order::Pharmaciens),
        );
        assert_eq!(wf.pending_count(&pharma).await.unwrap(), 210);
        let page = wf.pending_requests(&pharma, 9).await.unwrap();
        assert_eq!(page.items.len(), 210 - 8 * PAGE_SIZE as usize);
        assert!(!page.has_next);
        assert!(wf.pending_requests(&pharma, 8).await.unwrap().has_next);
        // Nobody's scope: nothing, and roles without the duty are refused.
        let bureau = operator("bureau", OperatorRole::RegistrationOffice, None);
        assert_eq!(wf.pending_count(&bureau).await.unwrap(), 0);
        let auditor = operator("auditeur", OperatorRole::Auditor, None);
        assert!(wf.pending_requests(&auditor, 1).await.is_err());
    }

    /// Partial, accent- and case-insensitive names (prefix matches first), given names, a
    /// certificate's serial, an IdNat; pages of PAGE_SIZE.
    pub async fn search_by_part_of_name_serial_and_pages(db: &Db) {
        let store = &db.store;
        let lefevre = register(store, 1, "Lefèvre", "Hugo", MEDECIN).await;
        let dulefevre = register(store, 2, "Du Lefevre", "Zoé", MEDECIN).await;
        let other = register(store, 3, "Lefevre", "Marc", PHARMACIEN).await;
        let audio = register(store, 4, "Sourd", "Claire", AUDIOPROTHESISTE).await;
        for n in 10..10 + u64::from(PAGE_SIZE) + 3 {
            register(store, n, &format!("Nom{n}"), "Jean", MEDECIN).await;
        }
        let wf = workflow(store);
        let clerk = operator("clerk-med", OperatorRole::Clerk, Some(Order::Medecins));
        let ids =
            |l: &[Professional]| -> Vec<String> { l.iter().map(|p| p.idnat.to_string()).collect() };
        let found = wf
            .search_page(&clerk, Search::NamePart("lefe"), 1)
            .await
            .unwrap();
        assert_eq!(
            ids(&found.items),
            [lefevre.to_string(), dulefevre.to_string()]
        );
        let found = wf
            .search_page(&clerk, Search::NamePart("LEFÈ"), 1)
            .await
            .unwrap();
        assert_eq!(found.items.len(), 2);
        let found = wf
            .search_page(&clerk, Search::NamePart("hugo"), 1)
            .await
            .unwrap();
        assert_eq!(ids(&found.items), [lefevre.to_string()]);
        // LIKE metacharacters are literal.
        let found = wf
            .search_page(&clerk, Search::NamePart("%"), 1)
            .await
            .unwrap();
        assert!(found.items.is_empty());
        // Another Order's professional, by IdNat: not found.
        let found = wf
            .search_page(&clerk, Search::IdNat(&other), 1)
            .await
            .unwrap();
        assert!(found.items.is_empty());
        let bureau = operator("bureau", OperatorRole::RegistrationOffice, None);
        let found = wf
            .search_page(&bureau, Search::IdNat(&audio), 1)
            .await
            .unwrap();
        assert_eq!(ids(&found.items), [audio.to_string()]);
        // By serial: the holder, in scope only.
        let serial = certificate(store, &lefevre, 30).await;
        let found = wf
            .search_page(&clerk, Search::Serial(&serial), 1)
            .await
            .unwrap();
        assert_eq!(ids(&found.items), [lefevre.to_string()]);
        assert!(wf
            .search_page(&bureau, Search::Serial(&serial), 1)
            .await
            .unwrap()
            .items
            .is_empty());
        // Pages.
        let first = wf
            .search_page(&clerk, Search::NamePart("nom"), 1)
            .await
            .unwrap();
        assert_eq!(first.items.len(), PAGE_SIZE as usize);
        assert!(first.has_next);
        let second = wf
            .search_page(&clerk, Search::NamePart("nom"), 2)
            .await
            .unwrap();
        assert_eq!(second.items.len(), 3);
        assert!(!second.has_next);
        assert!(second.items.iter().all(|p| !first.items.contains(p)));
    }

    /// A clerk's own requests, newest first, with the rejection reason; not a colleague's.
    pub async fn own_requests_with_rejection_reason(db: &Db) {
        let store = &db.store;
        let p = register(store, 1, "Petit", "Léa", MEDECIN).await;
        let mine = file(store, &p, "clerk-med").await;
        let rejected = file(store, &p, "clerk-med").await;
        file(store, &p, "colleague").await;
        store
            .reject_request(rejected, "CSR illisible", &clerk_actor("approver-med"))
            .await
            .unwrap();
        let wf = workflow(store);
        let clerk = operator("clerk-med", OperatorRole::Clerk, Some(Order::Medecins));
        let l = wf.my_requests(&clerk, 1).await.unwrap();
        let ids: Vec<_> = l.items.iter().map(|r| r.id).collect();
        assert_eq!(ids, [rejected, mine]);
        assert_eq!(l.items[0].decision_note.as_deref(), Some("CSR illisible"));
        // The same login scoped to another Order sees none of them.
        let elsewhere = operator("clerk-med", OperatorRole::Clerk, Some(Order::Pharmaciens));
        assert!(wf
            .my_requests(&elsewhere, 1)
            .await
            .unwrap()
            .items
            .is_empty());
    }

    /// Good and on-hold certificates of the scope expiring within the horizon, soonest
    /// first; never revoked or expired ones, nor another Order's.
    pub async fn expiring_certificates_in_scope(db: &Db) {
        let store = &db.store;
        let med = register(store, 1, "Roux", "Anne", MEDECIN).await;
        let ph = register(store, 2, "Blanc", "Luc", PHARMACIEN).await;
        let in_20 = certificate(store, &med, 20).await;
        let in_5 = certificate(store, &med, 5).await;
        let held = certificate(store, &med, 30).await;
        let revoked = certificate(store, &med, 10).await;
        certificate(store, &med, 90).await;
        certificate(store, &med, -1).await;
        certificate(store, &ph, 3).await;
        let now = OffsetDateTime::now_utc();
        let ca = Actor::system("ca").unwrap();
        store
            .revoke(&held, RevocationReason::CertificateHold, now, &ca)
            .await
            .unwrap();
        store
            .revoke(&revoked, RevocationReason::KeyCompromise, now, &ca)
            .await
            .unwrap();
        let wf = workflow(store);
        let clerk = operator("clerk-med", OperatorRole::Clerk, Some(Order::Medecins));
        let l = wf.expiring(&clerk, 60, 1).await.unwrap();
        let serials: Vec<_> = l.items.iter().map(|c| c.serial.clone()).collect();
        assert_eq!(serials, [in_5.clone(), in_20, held.clone()]);
        assert!(matches!(
            l.items[2].status,
            CertificateStatus::OnHold { .. }
        ));
        assert_eq!(l.items[0].surname, "Roux");
        assert_eq!(wf.expiring(&clerk, 100, 1).await.unwrap().items.len(), 4);
        assert_eq!(wf.expiring(&clerk, 6, 1).await.unwrap().items.len(), 1);
        assert!(wf.expiring(&clerk, 0, 1).await.is_err());
        assert!(wf.expiring(&clerk, 3651, 1).await.is_err());
        assert_eq!(wf.expiring_export(&clerk, 60).await.unwrap().len(), 3);
        // The export is journaled, with who, the horizon and the number of rows.
        let (head, _) = store.audit_head().await.unwrap();
        let last = store.audit_entries(head - 1, 1).await.unwrap();
        assert_eq!(last[0].action, "certificate.export-expiring");
        assert_eq!(last[0].actor, "clerk-med");
        assert_eq!(last[0].details["days"], 60);
        assert_eq!(last[0].details["rows"], 3);
        let bureau = operator("bureau", OperatorRole::RegistrationOffice, None);
        assert!(wf.expiring(&bureau, 60, 1).await.unwrap().items.is_empty());
    }

    /// The administrator's home: accounts waiting for confirmation, locked accounts.
    pub async fn locked_and_unconfirmed_accounts(db: &Db) {
        let store = &db.store;
        let system = Actor::system("test").unwrap();
        for login in ["pending-one", "locked-one"] {
            store
                .create_operator(
                    &NewOperator {
                        login: login.parse().unwrap(),
                        display_name: login.to_owned(),
                        role: OperatorRole::Clerk,
                        order: Some(Order::Medecins),
                    },
                    &clerk_actor("admin-a"),
                )
                .await
                .unwrap();
        }
        let until = OffsetDateTime::now_utc() + Duration::minutes(15);
        store
            .record_login_failure("locked-one", 1, until, &system, "bad password")
            .await
            .unwrap();
        let wf = workflow(store);
        let admin = operator("admin-b", OperatorRole::Administrator, None);
        let a = wf.accounts_to_attend(&admin).await.unwrap();
        let awaiting: Vec<_> = a
            .awaiting_confirmation
            .iter()
            .map(|o| o.login.to_string())
            .collect();
        assert!(awaiting.contains(&"pending-one".to_owned()), "{awaiting:?}");
        let locked: Vec<_> = a.locked.iter().map(|o| o.login.to_string()).collect();
        assert_eq!(locked, ["locked-one"]);
        let clerk = operator("clerk-med", OperatorRole::Clerk, Some(Order::Medecins));
        assert!(wf.accounts_to_attend(&clerk).await.is_err());
    }
}
