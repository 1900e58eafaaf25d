//! RA portal: bulk import of professionals from CSV (issue 6). Through the router
//! (`tower::ServiceExt::oneshot`) on a real store: a médecins clerk uploads a file mixing good
//! and bad rows (invalid RPPS, a pharmacien outside their Order, an unknown document type, a
//! duplicate); the job page shows the progress and then a per-row report; the good rows are
//! registered with their identity proofing, nothing of a bad row is written. A file without
//! the required columns is refused as a whole. The job is in the database: a second portal
//! instance on the same database shows it, and a job whose instance stopped halfway is shown
//! as interrupted. On SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
#[path = "../ca/tests/issuance_common/mod.rs"]
mod issuance_common;
mod portal_common;
#[path = "../ca/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use ca::domain::{Actor, IdNatPs, Order, ProfessionTable};
use ca::storage::{OperatorRole, Store};
use ca::workflow::Workflow;
use issuance_common::*;
use portal_common::*;
use ra_portal::{PortalConfig, PortalState};

fn upload(path: &str, s: &Session, file_name: &str, csv: &str) -> Request<Body> {
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csv_file\"; filename=\"{file_name}\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{BOUNDARY}--\r\n",
        s.csrf
    );
    multipart_request(path, s, body)
}

on_both_backends!(csv_import_good_rows_in_bad_rows_reported_and_not_written);

fn portal(env: &Env, store: Store) -> Router {
    ra_portal::router(PortalState::new(
        Workflow::new(
            store,
            Arc::new(ProfessionTable::builtin().unwrap()),
            vec![env.personnes.clone(), env.orgs.clone()],
            env.publisher.clone(),
        ),
        PortalConfig::default(),
    ))
}

/// A clerk of the Ordre des médecins, created with a one-time password and logged in for the
/// first time.
async fn medecins_clerk(app: &Router, store: &Store, login: &str, otp: &str) -> Session {
    ra_portal::create_operator(
        store,
        login,
        "Agent",
        OperatorRole::Clerk,
        Some(Order::Medecins),
        otp,
        &Actor::system("test").unwrap(),
    )
    .await
    .unwrap();
    first_login(app, store, login, otp).await
}

mod scenarios {
    use super::*;

    pub async fn csv_import_good_rows_in_bad_rows_reported_and_not_written(db: Db) {
        let started = Instant::now();
        let env = Env::new(db).await;
        let store = env.store().clone();
        let app = portal(&env, store.clone());
        let s = medecins_clerk(&app, &store, "agent.import", "otp-import-123456").await;
        let r = send(&app, get("/importations", Some(&s))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("csv_file"));

        // Already registered: the duplicate row must be refused.
        let existing = idnat(9_000_000_001);
        register(&store, &existing, "DEJALA", "Paul", "10", None).await;

        let ok1 = rpps(9_100_000_001);
        let ok2 = rpps(9_100_000_002);
        let ok3 = rpps(9_100_000_003);
        let bad_luhn = {
            let mut r = rpps(9_100_000_004);
            let last = r.pop().unwrap().to_digit(10).unwrap();
            r.push(char::from_digit((last + 1) % 10, 10).unwrap());
            r
        };
        let pharmacien = rpps(9_100_000_005);
        let bad_doc = rpps(9_100_000_006);
        let csv = format!(
            "rpps;nom;prenoms;profession;type_piece;numero_piece;modalite\n\
         {ok1};MARTIN;Claire;10;cni;AB123;face-to-face\n\
         {bad_luhn};FAUX;Luhn;10;cni;AB124;face-to-face\n\
         {ok2};\"DURAND; dit Jo\";Jo;10;passport;P999;remote\n\
         {pharmacien};PHARMA;Pierre;21;cni;AB125;face-to-face\n\
         {bad_doc};DOC;Inconnu;10;carte-vitale;AB126;face-to-face\n\
         {};DEJALA;Paul;10;cni;AB127;face-to-face\n\
         {ok3};PETIT;Léa;10;titre-de-sejour;T1;remote\n\
         {};;;10;cni;;face-to-face\n",
            &existing.to_string()[1..],
            rpps(9_100_000_007),
        );
        let r = send(&app, upload("/importations", &s, "lot.csv", &csv)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location.starts_with("/importations/"), "{}", r.location);

        // The progress page, until the report is complete (bounded).
        let end = Instant::now() + Duration::from_secs(30);
        let page = loop {
            let p = send(&app, get(&r.location, Some(&s))).await;
            assert_eq!(p.status, StatusCode::OK, "{}", p.body);
            assert!(p.body.contains("<progress"), "progress shown");
            if p.body.contains("data-termine=\"oui\"") {
                break p.body;
            }
            // An unfinished job's page offers a reload (it never refreshes itself: WCAG 2.2.1).
            assert!(
                p.body.contains("id=\"actualiser\"") && !p.body.contains("http-equiv"),
                "{}",
                p.body
            );
            assert!(Instant::now() < end, "import not finished in 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(page.contains("8 / 8 lignes traitées"), "{page}");
        assert!(
            page.contains("3 professionnel(s) enregistré(s), 5 ligne(s) refusée(s)"),
            "{page}"
        );
        let row = |line: usize| -> String {
            let marker = format!("<td>{line}</td>");
            let i = page
                .find(&marker)
                .unwrap_or_else(|| panic!("line {line}: {page}"));
            page[i..].split("</tr>").next().unwrap().to_owned()
        };
        assert!(row(2).contains("enregistré"), "{}", row(2));
        assert!(
            row(3).contains("refusée") && row(3).contains("RPPS"),
            "{}",
            row(3)
        );
        assert!(row(4).contains("enregistré"), "{}", row(4));
        assert!(
            row(5).contains("refusée") && row(5).contains("périmètre"),
            "{}",
            row(5)
        );
        assert!(
            row(6).contains("refusée") && row(6).contains("type de pièce"),
            "{}",
            row(6)
        );
        assert!(row(7).contains("refusée"), "{}", row(7));
        assert!(row(8).contains("enregistré"), "{}", row(8));
        assert!(
            row(9).contains("refusée") && row(9).contains("nom"),
            "{}",
            row(9)
        );

        // Good rows are in, with their identity proofing; bad rows left nothing.
        let id = |r: &str| -> IdNatPs { format!("8{r}").parse().unwrap() };
        for good in [&ok1, &ok2, &ok3] {
            let p = store.find_professional(&id(good)).await.unwrap();
            assert!(p.is_some(), "{good} registered");
            let proofings = store.identity_proofings_of(&id(good)).await.unwrap();
            assert_eq!(proofings.len(), 1);
            assert_eq!(proofings[0].checked_by.as_str(), "agent.import");
        }
        let durand = store.find_professional(&id(&ok2)).await.unwrap().unwrap();
        assert_eq!(durand.surname.to_string(), "DURAND; dit Jo");
        for bad in [&pharmacien, &bad_doc, &rpps(9_100_000_007)] {
            assert!(store.find_professional(&id(bad)).await.unwrap().is_none());
            assert!(store
                .identity_proofings_of(&id(bad))
                .await
                .unwrap()
                .is_empty());
        }
        assert_eq!(
            store.identity_proofings_of(&existing).await.unwrap().len(),
            1,
            "the duplicate row added no proofing"
        );

        // Another instance on the same database shows the same report (the session is in the
        // database too).
        let second = portal(&env, env.db.second_store().await);
        let p = send(&second, get(&r.location, Some(&s))).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        assert!(p.body.contains("data-termine=\"oui\""), "{}", p.body);
        assert!(p.body.contains("8 / 8 lignes traitées"), "{}", p.body);
        let job_id = r.location.trim_start_matches("/importations/").to_owned();
        // The page says finished once every line is reported; the end is recorded just after.
        let end = Instant::now() + Duration::from_secs(10);
        let job = loop {
            let job = store.import_job(&job_id).await.unwrap().unwrap();
            if job.finished_at.is_some() {
                break job;
            }
            assert!(Instant::now() < end, "the job's end never recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(job.rows.len(), 8);
        assert_eq!(job.login, "agent.import");

        // A job whose instance stopped after its first line (simulated: created through the
        // store, one line reported, its last report long ago): shown as interrupted, the
        // page no longer refreshes itself.
        let clerk_actor = Actor::new("agent.import", "password+totp").unwrap();
        store
            .create_import_job(
                &ca::storage::NewImportJob {
                    id: "0123456789abcdef0123456789abcdef".into(),
                    login: "agent.import".into(),
                    file_name: "coupé.csv".into(),
                    total_rows: 3,
                },
                time::OffsetDateTime::now_utc() - time::Duration::days(30),
                time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
                &clerk_actor,
            )
            .await
            .unwrap();
        store
            .report_refused_import_row(
                "0123456789abcdef0123456789abcdef",
                &ca::storage::ImportRow {
                    line: 2,
                    idnat: "123".into(),
                    ok: false,
                    message: "RPPS / IdNat : invalide".into(),
                },
                &clerk_actor,
            )
            .await
            .unwrap();
        let p = send(
            &app,
            get("/importations/0123456789abcdef0123456789abcdef", Some(&s)),
        )
        .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        assert!(p.body.contains("id=\"actualiser\""), "running: {}", p.body);
        assert!(!p.body.contains("data-termine"), "{}", p.body);
        let raw = env.db.raw().await;
        // Any time older than the 60 s window (stored as fixed-width UTC text).
        sqlx::query("UPDATE ra_import_jobs SET updated_at = $1 WHERE id = $2")
            .bind("2020-01-01T00:00:00.000000Z")
            .bind("0123456789abcdef0123456789abcdef")
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        let p = send(
            &second,
            get("/importations/0123456789abcdef0123456789abcdef", Some(&s)),
        )
        .await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        assert!(
            p.body.contains("data-termine=\"interrompue\""),
            "{}",
            p.body
        );
        assert!(p.body.contains("1 / 3 lignes traitées"), "{}", p.body);
        assert!(!p.body.contains("id=\"actualiser\""), "{}", p.body);

        // Four jobs of this operator already running (on whichever instance): a fifth upload
        // is refused, nothing of it written.
        for n in 0..4 {
            store
                .create_import_job(
                    &ca::storage::NewImportJob {
                        id: format!("{n:032x}"),
                        login: "agent.import".into(),
                        file_name: "en-cours.csv".into(),
                        total_rows: 10,
                    },
                    time::OffsetDateTime::now_utc() - time::Duration::days(30),
                    time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
                    &clerk_actor,
                )
                .await
                .unwrap();
        }
        let fifth = rpps(9_100_000_010);
        let r5 = send(
            &app,
            upload(
                "/importations",
                &s,
                "cinquieme.csv",
                &format!(
                    "rpps;nom;prenoms;profession;type_piece;numero_piece;modalite\n\
                     {fifth};CINQ;Jean;10;cni;AB128;face-to-face\n"
                ),
            ),
        )
        .await;
        assert_eq!(r5.status, StatusCode::TOO_MANY_REQUESTS, "{}", r5.body);
        assert!(r5.body.contains("4 importations en cours"), "{}", r5.body);
        assert!(store
            .find_professional(&id(&fifth))
            .await
            .unwrap()
            .is_none());

        // Unknown or malformed job identifiers: not found.
        for path in [
            "/importations/ffffffffffffffffffffffffffffffff",
            "/importations/not-a-job",
            "/importations/0123456789abcdef0123456789abcdef0",
        ] {
            let p = send(&app, get(path, Some(&s))).await;
            assert_eq!(p.status, StatusCode::NOT_FOUND, "{path}");
        }

        // Another operator cannot see this job.
        let s2 = medecins_clerk(&app, &store, "agent.autre", "otp-import-autre-1").await;
        let p = send(&app, get(&r.location, Some(&s2))).await;
        assert_eq!(p.status, StatusCode::NOT_FOUND);

        // A file without the required columns, or not UTF-8: refused as a whole, nothing written.
        let before = store
            .find_professionals_by_name("ZORRO", 10)
            .await
            .unwrap()
            .len();
        let r = send(
            &app,
            upload(
                "/importations",
                &s,
                "mauvais.csv",
                &format!("rpps;nom\n{};ZORRO\n", rpps(9_100_000_009)),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("Colonnes manquantes"), "{}", r.body);
        assert_eq!(
            store
                .find_professionals_by_name("ZORRO", 10)
                .await
                .unwrap()
                .len(),
            before
        );
        eprintln!(
            "CSV import test done in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}
