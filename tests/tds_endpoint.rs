//! The executing TDS test endpoint (tests/tds) against the real tiberius client.

#[path = "tds/mod.rs"]
mod tds;

use std::time::Duration;

use chrono::NaiveDateTime;
use tds::{Endpoint, EndpointOptions, ServerEncryption, UpdatePermission};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type Conn = Client<Compat<TcpStream>>;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config(ep: &Endpoint, enc: EncryptionLevel, password: &str) -> Config {
    let mut cfg = base_config(ep, enc, password);
    cfg.trust_cert_ca(ep.ca_pem().to_string_lossy());
    cfg
}

fn base_config(ep: &Endpoint, enc: EncryptionLevel, password: &str) -> Config {
    let mut cfg = Config::new();
    cfg.host("127.0.0.1");
    cfg.port(ep.port());
    cfg.authentication(AuthMethod::sql_server("sa", password));
    cfg.database("UFSystem");
    cfg.encryption(enc);
    cfg
}

async fn connect_cfg(ep: &Endpoint, cfg: Config) -> tiberius::Result<Conn> {
    let tcp = TcpStream::connect(("127.0.0.1", ep.port())).await?;
    tcp.set_nodelay(true)?;
    match tokio::time::timeout(
        Duration::from_secs(20),
        Client::connect(cfg, tcp.compat_write()),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => panic!("connect hung"),
    }
}

async fn connect(ep: &Endpoint, enc: EncryptionLevel) -> Conn {
    connect_cfg(ep, config(ep, enc, "Locksmith-Test-1"))
        .await
        .expect("connect")
}

fn endpoint(enc: ServerEncryption) -> Endpoint {
    Endpoint::start(EndpointOptions {
        encryption: enc,
        ..Default::default()
    })
}

async fn scalar_string(c: &mut Conn, sql: &str) -> Option<String> {
    let rows = simple_rows(c, sql).await;
    rows.first()
        .and_then(|r| r.get::<&str, _>(0).map(str::to_string))
}

/// The first result set of an `sp_executesql` call.
async fn query_rows(
    c: &mut Conn,
    sql: &str,
    params: &[&dyn tiberius::ToSql],
) -> Vec<tiberius::Row> {
    c.query(sql, params)
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap()
}

/// The first result set of a SQL batch.
async fn simple_rows(c: &mut Conn, sql: &str) -> Vec<tiberius::Row> {
    c.simple_query(sql)
        .await
        .unwrap()
        .into_first_result()
        .await
        .unwrap()
}

async fn exec(c: &mut Conn, sql: &str) {
    c.simple_query(sql)
        .await
        .unwrap()
        .into_results()
        .await
        .unwrap();
}

/// One column of one UA_User row, read from the endpoint's SQLite file by
/// an independent reader (not through the endpoint).
fn stored_text(ep: &Endpoint, column: &str, id: &str) -> String {
    let db = rusqlite::Connection::open(ep.sqlite_path()).unwrap();
    db.query_row(
        &format!("SELECT {column} FROM UA_User WHERE cUser_Id = ?1"),
        [id],
        |r| r.get(0),
    )
    .unwrap_or_else(|e| panic!("{column} of {id}: {e}"))
}

fn assert_all_parse(ep: &Endpoint) {
    let bad = tds::unparsable_statements(&ep.statements());
    assert!(bad.is_empty(), "statements MsSqlDialect rejects: {bad:#?}");
}

const DDL: &str = "CREATE TABLE [dbo].[UA_User] (
  [cUser_Id] nvarchar(20) NOT NULL,
  [cUser_Name] varchar(40) COLLATE Chinese_PRC_CI_AS NULL,
  [cUser_NName] nvarchar(40) NULL,
  [iAdmin] int NOT NULL DEFAULT ((0)),
  [bLocked] bit NULL,
  [dPasswordDate] datetime NULL,
  [nScore] float NULL,
  [cPassword] nvarchar(255) NULL,
  CONSTRAINT [PK_UA_User] PRIMARY KEY CLUSTERED ([cUser_Id])
)";

/// A connection to `ep` on a freshly seeded UA_User.
async fn seeded(ep: &Endpoint, enc: EncryptionLevel) -> Conn {
    let mut c = connect(ep, enc).await;
    seed(&mut c).await;
    c
}

async fn seed(c: &mut Conn) {
    exec(c, DDL).await;
    let r = c
        .execute(
            "INSERT INTO [UFSystem]..[UA_User] ([cUser_Id], [cUser_Name], [cUser_NName], [iAdmin]) VALUES (@P1, @P2, @P3, @P4)",
            &[&"001", &"张三", &"张三", &1i32],
        )
        .await
        .unwrap();
    assert_eq!(r.total(), 1);
    exec(
        c,
        "INSERT INTO [dbo].[UA_User] ([cUser_Id], [cUser_Name], [cUser_NName], [iAdmin], [dPasswordDate])
         VALUES (N'002', N'李四', N'李四', 0, '2025-05-20 10:00:00'), (N'admin', N'Admin', N'Admin', 1, NULL)",
    )
    .await;
}

#[test]
fn connects_without_tls() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = connect(&ep, EncryptionLevel::NotSupported).await;
        let v = scalar_string(&mut c, "SELECT @@VERSION").await.unwrap();
        assert!(v.contains("Locksmith TDS test endpoint"), "{v}");
        assert_eq!(
            scalar_string(&mut c, "SELECT DB_NAME()").await.as_deref(),
            Some("UFSystem")
        );
        assert_eq!(
            scalar_string(&mut c, "SELECT SCHEMA_NAME()")
                .await
                .as_deref(),
            Some("dbo")
        );
    });
    assert_all_parse(&ep);
}

#[test]
fn connects_with_login_only_tls() {
    let ep = endpoint(ServerEncryption::Off);
    rt().block_on(async {
        let mut c = connect(&ep, EncryptionLevel::Off).await;
        assert_eq!(
            scalar_string(&mut c, "SELECT DB_NAME()").await.as_deref(),
            Some("UFSystem")
        );
        // a second round trip on the now-plain stream
        let rows = simple_rows(&mut c, "SELECT SYSDATETIME(), GETDATE()").await;
        let a: NaiveDateTime = rows[0].get(0).unwrap();
        let b: NaiveDateTime = rows[0].get(1).unwrap();
        assert!((a - b).num_seconds().abs() < 5);
    });
}

#[test]
fn connects_with_full_tls() {
    for (server, client) in [
        (ServerEncryption::Required, EncryptionLevel::Required),
        (ServerEncryption::On, EncryptionLevel::On),
        (ServerEncryption::Off, EncryptionLevel::Required),
        (ServerEncryption::Required, EncryptionLevel::Off),
    ] {
        let ep = endpoint(server);
        rt().block_on(async {
            let mut c = connect(&ep, client).await;
            assert_eq!(
                scalar_string(&mut c, "SELECT DB_NAME()").await.as_deref(),
                Some("UFSystem"),
                "{server:?}/{client:?}"
            );
            assert_eq!(
                scalar_string(&mut c, "SELECT SCHEMA_NAME()")
                    .await
                    .as_deref(),
                Some("dbo")
            );
        });
    }
}

#[test]
fn trust_cert_without_ca_also_works() {
    let ep = endpoint(ServerEncryption::Required);
    rt().block_on(async {
        let mut cfg = base_config(&ep, EncryptionLevel::Required, "Locksmith-Test-1");
        cfg.trust_cert();
        let mut c = connect_cfg(&ep, cfg).await.unwrap();
        assert_eq!(
            scalar_string(&mut c, "SELECT DB_NAME()").await.as_deref(),
            Some("UFSystem")
        );
    });
}

#[test]
fn client_without_tls_against_required_server_fails() {
    let ep = endpoint(ServerEncryption::Required);
    rt().block_on(async {
        let r = connect_cfg(
            &ep,
            config(&ep, EncryptionLevel::NotSupported, "Locksmith-Test-1"),
        )
        .await;
        assert!(r.is_err());
    });
}

#[test]
fn wrong_password_and_unknown_database_are_refused() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let err = connect_cfg(&ep, config(&ep, EncryptionLevel::NotSupported, "nope"))
            .await
            .err()
            .unwrap();
        match &err {
            tiberius::error::Error::Server(e) => {
                assert_eq!(e.code(), 18456);
                assert!(
                    e.message().contains("Login failed for user 'sa'"),
                    "{}",
                    e.message()
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut cfg = config(&ep, EncryptionLevel::NotSupported, "Locksmith-Test-1");
        cfg.database("Nope");
        let err = connect_cfg(&ep, cfg).await.err().unwrap();
        match &err {
            tiberius::error::Error::Server(e) => assert_eq!(e.code(), 4060),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn old_tls_server_fails_with_a_tls_error() {
    let ep = Endpoint::start(EndpointOptions {
        reject_tls_handshake: true,
        ..Default::default()
    });
    rt().block_on(async {
        let err = connect_cfg(
            &ep,
            config(&ep, EncryptionLevel::Required, "Locksmith-Test-1"),
        )
        .await
        .err()
        .unwrap();
        let text = format!("{err:?} {err}").to_lowercase();
        assert!(
            text.contains("alert") || text.contains("protocolversion") || text.contains("tls"),
            "{text}"
        );
    });
}

#[test]
fn chinese_text_round_trips_as_varchar_and_nvarchar() {
    let ep = endpoint(ServerEncryption::Off);
    rt().block_on(async {
        let mut c = seeded(&ep, EncryptionLevel::Off).await;
        let rows = query_rows(&mut c, "SELECT [cUser_Name], [cUser_NName] FROM [dbo].[UA_User] WHERE [cUser_Id] = @P1", &[&"001"]).await;
        assert_eq!(rows[0].get::<&str, _>(0), Some("张三"));
        assert_eq!(rows[0].get::<&str, _>(1), Some("张三"));
        let rows = query_rows(&mut c, "SELECT [cUser_Id] FROM [UFSystem].[dbo].[UA_User] WHERE [cUser_Name] = N'李四' AND [cUser_NName] = @P1", &[&"李四"]).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<&str, _>(0), Some("002"));
        // LIKE with a Chinese substring, with an ESCAPE clause
        let rows = query_rows(&mut c, "SELECT [cUser_Id] FROM UFSystem..UA_User WHERE [cUser_Name] LIKE @P1 ESCAPE '!'", &[&"%三%"]).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<&str, _>(0), Some("001"));
        // CI collation: case-insensitive equality
        let rows = query_rows(&mut c, "SELECT COUNT(*) FROM [dbo].[UA_User] WHERE [cUser_Id] = @P1", &[&"ADMIN"]).await;
        assert_eq!(rows[0].get::<i32, _>(0), Some(1));
    });
    // an independent reader sees the same text
    let n = stored_text(&ep, "cUser_Name", "002");
    assert_eq!(n, "李四");
    assert_all_parse(&ep);
}

#[test]
fn varchar_travels_as_gbk_bytes() {
    use rusqlite::types::Value;
    let mut buf = Vec::new();
    tds::wire::encode_value(
        &mut buf,
        tds::wire::ColType::VarChar { plp: false },
        &Value::Text("张三".into()),
    );
    assert_eq!(buf, vec![0x04, 0x00, 0xD5, 0xC5, 0xC8, 0xFD]);
    let mut buf = Vec::new();
    tds::wire::encode_value(
        &mut buf,
        tds::wire::ColType::NVarChar { plp: false },
        &Value::Text("张三".into()),
    );
    assert_eq!(buf, vec![0x04, 0x00, 0x20, 0x5F, 0x09, 0x4E]);
    // the COLMETADATA of a VARCHAR column carries Chinese_PRC_CI_AS (LCID 0x0804)
    let mut t = tds::wire::Tokens::default();
    t.colmetadata(&[tds::wire::Column {
        name: "n".into(),
        ty: tds::wire::ColType::VarChar { plp: false },
    }]);
    assert_eq!(
        &t.buf[9..17],
        &[0xA7, 0x40, 0x1F, 0x04, 0x08, 0xD0, 0x00, 0x00]
    );
}

#[test]
fn transactions_roll_back_and_commit() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
        let update = "UPDATE [UFSystem]..[UA_User] SET [cPassword] = @P1 WHERE [cUser_Id] = @P2 AND ([cPassword] = @P3 OR ([cPassword] IS NULL AND @P3 IS NULL))";
        exec(&mut c, "BEGIN TRANSACTION").await;
        let r = c.execute(update, &[&"h1", &"001", &Option::<&str>::None]).await.unwrap();
        assert_eq!(r.total(), 1);
        exec(&mut c, "ROLLBACK TRANSACTION").await;
        let pw = c
            .query("SELECT [cPassword] FROM [dbo].[UA_User] WHERE [cUser_Id] = @P1", &[&"001"])
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pw.get::<&str, _>(0), None);
        // a locking read inside a transaction: table hints are accepted
        exec(&mut c, "BEGIN TRANSACTION").await;
        let rows = query_rows(&mut c, "SELECT [cPassword] FROM [dbo].[UA_User] AS u WITH (UPDLOCK, ROWLOCK) WHERE u.[cUser_Id] = @P1",
                &[&"001"]).await;
        assert_eq!(rows.len(), 1);
        exec(&mut c, "COMMIT TRANSACTION").await;

        exec(&mut c, "BEGIN TRAN").await;
        let r = c.execute(update, &[&"h2", &"001", &Option::<&str>::None]).await.unwrap();
        assert_eq!(r.total(), 1);
        // the guard no longer matches: 0 rows
        let r = c.execute(update, &[&"h3", &"001", &Option::<&str>::None]).await.unwrap();
        assert_eq!(r.total(), 0);
        exec(&mut c, "IF @@TRANCOUNT > 0 COMMIT TRANSACTION").await;
        exec(&mut c, "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION").await;
        // UPDATE; SELECT @@ROWCOUNT in one batch
        let rows = c
            .query("UPDATE [dbo].[UA_User] SET [iAdmin] = @P1 WHERE [cUser_Id] = @P2;\nSELECT @@ROWCOUNT", &[&1i32, &"002"])
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        assert_eq!(rows.last().unwrap()[0].get::<i32, _>(0), Some(1));
    });
    let pw = stored_text(&ep, "cPassword", "001");
    assert_eq!(pw, "h2");
    assert_all_parse(&ep);
}

#[test]
fn datetime_read_back_matches_as_a_parameter() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
        let when = NaiveDateTime::parse_from_str("2024-02-29 13:14:15.123", "%Y-%m-%d %H:%M:%S%.f").unwrap();
        c.execute("UPDATE [dbo].[UA_User] SET [dPasswordDate] = @P1 WHERE [cUser_Id] = @P2", &[&when, &"001"])
            .await
            .unwrap();
        for id in ["001", "002"] {
            let row = c
                .query("SELECT [dPasswordDate] FROM [dbo].[UA_User] WHERE [cUser_Id] = @P1", &[&id])
                .await
                .unwrap()
                .into_row()
                .await
                .unwrap()
                .unwrap();
            let read: NaiveDateTime = row.get(0).unwrap();
            let r = c
                .execute(
                    "UPDATE [dbo].[UA_User] SET [iAdmin] = [iAdmin] WHERE [cUser_Id] = @P1 AND [dPasswordDate] = @P2",
                    &[&id, &read],
                )
                .await
                .unwrap();
            assert_eq!(r.total(), 1, "{id}: {read}");
        }
    });
    let d = stored_text(&ep, "dPasswordDate", "001");
    assert_eq!(d, "2024-02-29 13:14:15.123");
}

#[test]
fn paging_with_top_and_offset_fetch() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
        let ids = |rows: Vec<tiberius::Row>| rows.iter().map(|r| r.get::<&str, _>(0).unwrap().to_string()).collect::<Vec<_>>();
        let rows = query_rows(&mut c, "SELECT [cUser_Id] FROM [dbo].[UA_User] WHERE [cUser_Id] LIKE @P1 ORDER BY [cUser_Id] OFFSET @P2 ROWS FETCH NEXT @P3 ROWS ONLY",
                &[&"%", &1i64, &1i64]).await;
        assert_eq!(ids(rows), vec!["002"]);
        let rows = query_rows(&mut c, "SELECT [cUser_Id] FROM [dbo].[UA_User] WHERE [cUser_Id] <> N'O''Brien -- FETCH NEXT @P9' /* FETCH NEXT @P8 */\nORDER BY [cUser_Id] DESC OFFSET @P1 ROWS\nFETCH FIRST @P2 ROWS ONLY",
                &[&0i32, &2i32]).await;
        assert_eq!(ids(rows), vec!["admin", "002"]);
        let rows = query_rows(&mut c, "SELECT [cUser_Id] FROM [dbo].[UA_User] ORDER BY [cUser_Id] OFFSET @P1 ROWS FETCH NEXT 5 ROWS ONLY", &[&1i32]).await;
        assert_eq!(ids(rows), vec!["002", "admin"]);
        let rows = simple_rows(&mut c, "SELECT TOP 2 [cUser_Id] FROM UA_User ORDER BY [cUser_Id] DESC").await;
        assert_eq!(ids(rows), vec!["admin", "002"]);
        let rows = query_rows(&mut c, "SELECT TOP (@P1) [cUser_Id] FROM [UFSystem].[dbo].[UA_User] ORDER BY [cUser_Id]", &[&1i32]).await;
        assert_eq!(ids(rows), vec!["001"]);
    });
    // MsSqlDialect (sqlparser 0.64) rejects FETCH NEXT @param; the endpoint accepts it anyway
    let bad = tds::unparsable_statements(&ep.statements());
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert!(
        bad.iter()
            .all(|(s, e)| s.contains("ROWS ONLY") && e.contains("@P")),
        "{bad:#?}"
    );
}

#[test]
fn object_names_and_errors() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
        for sql in [
            "SELECT COUNT(*) FROM [UFSystem]..[UA_User]",
            "SELECT COUNT(*) FROM UFSystem..UA_User",
            "SELECT COUNT(*) FROM [ufsystem].[dbo].[UA_User]",
            "SELECT COUNT(*) FROM [dbo].[UA_User]",
            "SELECT COUNT(*) FROM UA_User",
        ] {
            let rows = simple_rows(&mut c, sql).await;
            assert_eq!(rows[0].get::<i32, _>(0), Some(3), "{sql}");
        }
        let code = |r: tiberius::Result<_>| match r {
            Err(tiberius::error::Error::Server(e)) => e.code(),
            Err(other) => panic!("{other:?}"),
            Ok(_) => 0,
        };
        let err = async |c: &mut Conn, sql: &str| -> u32 {
            let r = match c.simple_query(sql).await {
                Ok(s) => s.into_results().await.map(|_| ()),
                Err(e) => Err(e),
            };
            code(r)
        };
        assert_eq!(err(&mut c, "SELECT * FROM [Other]..[UA_User]").await, 208);
        assert_eq!(err(&mut c, "SELECT * FROM [dbo].[Nope]").await, 208);
        assert_eq!(err(&mut c, "SELECT [Nope] FROM [dbo].[UA_User]").await, 207);
        assert_eq!(err(&mut c, "SELEC 1").await, 102);
        assert_eq!(err(&mut c, "INSERT INTO UA_User (cUser_Id) VALUES (N'001')").await, 2627);
        assert_eq!(err(&mut c, "INSERT INTO UA_User (cUser_Name) VALUES (N'x')").await, 515);
        assert_eq!(err(&mut c, "CREATE DATABASE Foo").await, 50000);
        assert_eq!(err(&mut c, "USE Foo").await, 911);
        // `]]` inside brackets
        exec(&mut c, "CREATE TABLE [dbo].[odd]]name] ([a]]b] int NOT NULL)").await;
        exec(&mut c, "INSERT INTO [UFSystem]..[odd]]name] ([a]]b]) VALUES (7)").await;
        let rows = simple_rows(&mut c, "SELECT [a]]b] AS [x]]y] FROM [odd]]name]").await;
        assert_eq!(rows[0].get::<i32, _>("x]y"), Some(7));
        // the connection still works after errors
        assert_eq!(scalar_string(&mut c, "SELECT DB_NAME()").await.as_deref(), Some("UFSystem"));
        // newline-separated statements in one batch, SET options accepted
        let res = c
            .simple_query("SET NOCOUNT ON\nSET LOCK_TIMEOUT 2000\nSET ANSI_NULLS ON\nSELECT 1 AS a\nSELECT N'x' AS b")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        assert_eq!(res.len(), 2);
    });
}

#[test]
fn columns_probe_and_privilege_probes() {
    let probe = "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = @P1 AND TABLE_SCHEMA = @P2 ORDER BY ORDINAL_POSITION";
    let has = "SELECT HAS_PERMS_BY_NAME(@P1, N'OBJECT', N'UPDATE')";
    let cols = "SELECT c.name FROM sys.columns AS c WHERE c.object_id = OBJECT_ID(@P1) AND HAS_PERMS_BY_NAME(@P1, N'OBJECT', N'UPDATE', c.name, N'COLUMN') = 1";
    for (perm, expect_has, expect_cols) in [
        (UpdatePermission::All, 1, 8usize),
        (
            UpdatePermission::Columns(vec!["cPassword".into(), "iAdmin".into()]),
            0,
            2,
        ),
        (UpdatePermission::None, 0, 0),
    ] {
        let ep = Endpoint::start(EndpointOptions {
            encryption: ServerEncryption::NotSupported,
            update_permission: perm.clone(),
            ..Default::default()
        });
        rt().block_on(async {
            let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
            let rows = query_rows(&mut c, probe, &[&"ua_user", &"DBO"]).await;
            assert_eq!(rows.len(), 8);
            let r0 = &rows[0];
            assert_eq!(r0.get::<&str, _>(0), Some("cUser_Id"));
            assert_eq!(r0.get::<&str, _>(1), Some("nvarchar"));
            assert_eq!(r0.get::<i32, _>(2), Some(20));
            assert_eq!(r0.get::<&str, _>(3), Some("NO"));
            assert_eq!(rows[1].get::<&str, _>(1), Some("varchar"));
            assert_eq!(rows[1].get::<&str, _>(3), Some("YES"));
            assert_eq!(rows[3].get::<&str, _>(1), Some("int"));
            assert_eq!(rows[3].get::<i32, _>(2), None);
            assert_eq!(rows[5].get::<&str, _>(1), Some("datetime"));
            let rows = query_rows(&mut c, "SELECT COLUMN_NAME FROM [UFSystem].INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = @P1", &[&"UA_User"]).await;
            assert_eq!(rows.len(), 8);

            let row = c.query(has, &[&"dbo.UA_User"]).await.unwrap().into_row().await.unwrap().unwrap();
            assert_eq!(row.get::<i32, _>(0), Some(expect_has), "{perm:?}");
            let rows = query_rows(&mut c, cols, &[&"[dbo].[UA_User]"]).await;
            assert_eq!(rows.len(), expect_cols, "{perm:?}");
            if let UpdatePermission::Columns(_) = perm {
                let names: Vec<&str> = rows.iter().map(|r| r.get::<&str, _>(0).unwrap()).collect();
                assert_eq!(names, vec!["iAdmin", "cPassword"]);
                let ok = c.execute("UPDATE [dbo].[UA_User] SET [cPassword] = @P1 WHERE [cUser_Id] = @P2", &[&"x", &"001"]).await;
                assert_eq!(ok.unwrap().total(), 1);
                let denied = c.execute("UPDATE [dbo].[UA_User] SET [cUser_Name] = @P1 WHERE [cUser_Id] = @P2", &[&"x", &"001"]).await;
                match denied {
                    Err(tiberius::error::Error::Server(e)) => assert_eq!(e.code(), 230),
                    other => panic!("{other:?}"),
                }
            }
        });
        assert_all_parse(&ep);
    }
}

/// The server error number of a failed call, 0 when it succeeded.
fn error_code<T>(r: tiberius::Result<T>) -> u32 {
    match r {
        Err(tiberius::error::Error::Server(e)) => e.code(),
        Err(other) => panic!("{other:?}"),
        Ok(_) => 0,
    }
}

/// The error number of a SQL batch, 0 when every statement succeeded.
async fn batch_error(c: &mut Conn, sql: &str) -> u32 {
    let r = match c.simple_query(sql).await {
        Ok(s) => s.into_results().await.map(|_| ()),
        Err(e) => Err(e),
    };
    error_code(r)
}

async fn password_of(c: &mut Conn, id: &str) -> tiberius::Result<Option<String>> {
    let row = c
        .query(
            "SELECT [cPassword] FROM [dbo].[UA_User] WHERE [cUser_Id] = @P1",
            &[&id],
        )
        .await?
        .into_row()
        .await?
        .expect("the row exists");
    Ok(row.get::<&str, _>(0).map(str::to_string))
}

const SET_PASSWORD: &str = "UPDATE [dbo].[UA_User] SET [cPassword] = @P1 WHERE [cUser_Id] = @P2";

/// READ COMMITTED as SQL Server locks it: a row changed by an open
/// transaction is X-locked, so another session's read of it (or a scan over
/// it) waits, and fails with 1222 at its LOCK_TIMEOUT; rows the transaction
/// did not touch are neither blocked for reading nor for writing.
#[test]
fn a_row_changed_by_an_open_transaction_blocks_its_readers_only() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut a = connect(&ep, EncryptionLevel::NotSupported).await;
        let mut b = connect(&ep, EncryptionLevel::NotSupported).await;
        seed(&mut a).await;
        exec(&mut a, "BEGIN TRANSACTION").await;
        assert_eq!(
            a.execute(SET_PASSWORD, &[&"a", &"001"])
                .await
                .unwrap()
                .total(),
            1
        );
        exec(&mut b, "SET LOCK_TIMEOUT 300").await;
        let started = std::time::Instant::now();
        assert_eq!(error_code(password_of(&mut b, "001").await), 1222);
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "b waited for the lock"
        );
        // A scan passes the locked row too.
        assert_eq!(
            batch_error(&mut b, "SELECT COUNT(*) FROM [dbo].[UA_User]").await,
            1222
        );
        // LOCK_TIMEOUT 0: any wait at all would fail. Another row is free to read and to write.
        exec(&mut b, "SET LOCK_TIMEOUT 0").await;
        assert_eq!(password_of(&mut b, "002").await.unwrap(), None);
        assert_eq!(
            b.execute(SET_PASSWORD, &[&"b", &"002"])
                .await
                .unwrap()
                .total(),
            1
        );
        // a, in turn, reads its own change and b's committed one.
        assert_eq!(
            password_of(&mut a, "001").await.unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(
            password_of(&mut a, "002").await.unwrap().as_deref(),
            Some("b")
        );
        // A reader that waits long enough gets the committed value once a commits.
        exec(&mut b, "SET LOCK_TIMEOUT 10000").await;
        let (read, ()) = tokio::join!(password_of(&mut b, "001"), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            exec(&mut a, "COMMIT").await;
        });
        assert_eq!(read.unwrap().as_deref(), Some("a"));
    });
}

/// A guarded UPDATE of a row another transaction holds waits (it must not
/// see the uncommitted value and report 0 rows), and one session's locking
/// read (UPDLOCK) excludes another's, not a plain reader.
#[test]
fn writers_and_locking_readers_of_one_row_wait_for_each_other() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut a = connect(&ep, EncryptionLevel::NotSupported).await;
        let mut b = connect(&ep, EncryptionLevel::NotSupported).await;
        seed(&mut a).await;
        exec(&mut b, "SET LOCK_TIMEOUT 200").await;
        exec(&mut a, "BEGIN TRANSACTION").await;
        let locking = "SELECT [cPassword] FROM [dbo].[UA_User] WITH (UPDLOCK, ROWLOCK) WHERE [cUser_Id] = @P1";
        assert_eq!(query_rows(&mut a, locking, &[&"001"]).await.len(), 1);
        // A plain reader is compatible with U ...
        assert_eq!(password_of(&mut b, "001").await.unwrap(), None);
        // ... a second locking reader and a writer are not.
        exec(&mut b, "BEGIN TRANSACTION").await;
        let r = match b.query(locking, &[&"001"]).await {
            Ok(s) => s.into_first_result().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert_eq!(error_code(r), 1222);
        assert_eq!(error_code(b.execute(SET_PASSWORD, &[&"b", &"001"]).await), 1222);
        exec(&mut b, "ROLLBACK").await;
        assert_eq!(a.execute(SET_PASSWORD, &[&"a", &"001"]).await.unwrap().total(), 1);
        exec(&mut a, "ROLLBACK").await;
        // After the rollback the row is back and free.
        exec(&mut b, "SET LOCK_TIMEOUT 0").await;
        assert_eq!(password_of(&mut b, "001").await.unwrap(), None);
    });
}

/// A connection that goes away with an open transaction is rolled back and its locks released.
#[test]
fn a_dropped_connection_rolls_back_and_releases_its_rows() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut a = connect(&ep, EncryptionLevel::NotSupported).await;
        let mut b = connect(&ep, EncryptionLevel::NotSupported).await;
        seed(&mut a).await;
        exec(&mut a, "BEGIN TRANSACTION").await;
        a.execute(SET_PASSWORD, &[&"gone", &"001"]).await.unwrap();
        a.execute(
            "INSERT INTO [dbo].[UA_User] ([cUser_Id], [iAdmin]) VALUES (@P1, 0)",
            &[&"003"],
        )
        .await
        .unwrap();
        a.execute(
            "DELETE FROM [dbo].[UA_User] WHERE [cUser_Id] = @P1",
            &[&"002"],
        )
        .await
        .unwrap();
        drop(a);
        exec(&mut b, "SET LOCK_TIMEOUT 5000").await;
        assert_eq!(password_of(&mut b, "001").await.unwrap(), None);
        let ids: Vec<String> = simple_rows(
            &mut b,
            "SELECT [cUser_Id] FROM [dbo].[UA_User] ORDER BY [cUser_Id]",
        )
        .await
        .iter()
        .map(|r| r.get::<&str, _>(0).unwrap().to_string())
        .collect();
        assert_eq!(ids, ["001", "002", "admin"]);
    });
}

/// What SQL Server rejects, the endpoint rejects, with SQL Server's number.
#[test]
fn t_sql_only_sqlite_and_mysql_spellings_are_errors() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
        assert_eq!(batch_error(&mut c, "SELECT [cUser_Id] FROM [dbo].[UA_User] ORDER BY [cUser_Id] LIMIT 1").await, 102);
        assert_eq!(batch_error(&mut c, "SELECT [cUser_Id] FROM [dbo].[UA_User] LIMIT 1 OFFSET 1").await, 102);
        for f in ["IFNULL([cPassword], N'x')", "LENGTH([cUser_Id])", "SUBSTR([cUser_Id], 1, 2)", "INSTR([cUser_Id], N'0')", "strftime('%Y', [dPasswordDate])"] {
            assert_eq!(batch_error(&mut c, &format!("SELECT {f} FROM [dbo].[UA_User]")).await, 195, "{f}");
        }
        assert_eq!(batch_error(&mut c, "SELECT [cUser_Id] FROM [dbo].[UA_User] WITH (NOLOCKS)").await, 321);
        assert_eq!(batch_error(&mut c, "SET NOT_AN_OPTION ON").await, 195);
        assert_eq!(batch_error(&mut c, "SELECT [cUser_Id] FROM [dbo].[UA_User] OFFSET 1 ROWS").await, 102);
        // What it does model still works.
        let rows = simple_rows(&mut c, "SELECT ISNULL([cPassword], N'x'), LEN(N'ab  ') FROM [dbo].[UA_User] WITH (NOLOCK) WHERE [cUser_Id] = N'001'").await;
        assert_eq!(rows[0].get::<&str, _>(0), Some("x"));
        assert_eq!(rows[0].get::<i32, _>(1), Some(2));
    });
}

/// Declared widths and integer types hold: an over-long value is 2628 on
/// SQL Server 2019 (8152 before), and the row keeps its value.
#[test]
fn an_over_long_or_out_of_range_value_is_refused() {
    for (version, code) in [
        (EndpointOptions::default().version, 2628),
        (
            "Microsoft SQL Server 2008 R2 (SP3) - 10.50.6000.34 (X64)".to_string(),
            8152,
        ),
    ] {
        let ep = Endpoint::start(EndpointOptions {
            encryption: ServerEncryption::NotSupported,
            version,
            ..Default::default()
        });
        rt().block_on(async {
            let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
            let wide = "p".repeat(256);
            assert_eq!(
                error_code(c.execute(SET_PASSWORD, &[&wide.as_str(), &"001"]).await),
                code
            );
            assert_eq!(
                error_code(
                    c.execute(SET_PASSWORD, &[&"p".repeat(255).as_str(), &"001"])
                        .await
                ),
                0
            );
            // varchar(40) in code page 936: 21 Chinese characters are 42 bytes.
            let name = "UPDATE [dbo].[UA_User] SET [cUser_Name] = @P1 WHERE [cUser_Id] = @P2";
            assert_eq!(
                error_code(c.execute(name, &[&"张".repeat(21).as_str(), &"002"]).await),
                code
            );
            assert_eq!(
                error_code(c.execute(name, &[&"张".repeat(20).as_str(), &"002"]).await),
                0
            );
            let insert = "INSERT INTO [dbo].[UA_User] ([cUser_Id], [iAdmin]) VALUES (@P1, @P2)";
            assert_eq!(
                error_code(c.execute(insert, &[&"x".repeat(21).as_str(), &0i32]).await),
                code
            );
            assert_eq!(
                error_code(c.execute(insert, &[&"004", &(1i64 << 40)]).await),
                8115
            );
            assert_eq!(error_code(c.execute(insert, &[&"004", &"many"]).await), 245);
            let n = simple_rows(&mut c, "SELECT COUNT(*) FROM [dbo].[UA_User]").await;
            assert_eq!(n[0].get::<i32, _>(0), Some(3), "nothing was inserted");
        });
        let pw = stored_text(&ep, "cPassword", "001");
        assert_eq!(pw.len(), 255);
    }
}

/// Without XACT_ABORT a failed statement does not end the batch; `@@ERROR`
/// holds its number; BEGIN resets `@@ROWCOUNT`. With XACT_ABORT ON the batch
/// stops and the transaction rolls back.
#[test]
fn errors_rowcount_and_xact_abort_behave_as_on_sql_server() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
        let res = c
            .simple_query("INSERT INTO [dbo].[UA_User] ([cUser_Id], [iAdmin]) VALUES (N'001', 0)\nSELECT @@ERROR AS e\nUPDATE [dbo].[UA_User] SET [iAdmin] = 1 WHERE [cUser_Id] = N'002'\nBEGIN TRANSACTION\nSELECT @@ROWCOUNT AS n, @@ERROR AS e\nCOMMIT")
            .await
            .unwrap()
            .into_results()
            .await;
        // tiberius reports the 2627; the rest of the batch ran all the same.
        assert_eq!(error_code(res), 2627);
        let admin = simple_rows(&mut c, "SELECT [iAdmin] FROM [dbo].[UA_User] WHERE [cUser_Id] = N'002'").await;
        assert_eq!(admin[0].get::<i32, _>(0), Some(1));
        let rows = c
            .simple_query("UPDATE [dbo].[UA_User] SET [iAdmin] = 0 WHERE [cUser_Id] = N'002'\nSELECT @@ROWCOUNT AS n\nBEGIN TRANSACTION\nSELECT @@ROWCOUNT AS n\nCOMMIT")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        assert_eq!(rows[0][0].get::<i32, _>(0), Some(1));
        assert_eq!(rows[1][0].get::<i32, _>(0), Some(0), "BEGIN TRANSACTION resets @@ROWCOUNT");
        assert_eq!(batch_error(&mut c, "SET XACT_ABORT ON\nBEGIN TRANSACTION\nUPDATE [dbo].[UA_User] SET [cPassword] = N'x' WHERE [cUser_Id] = N'002'\nINSERT INTO [dbo].[UA_User] ([cUser_Id], [iAdmin]) VALUES (N'001', 0)\nCOMMIT").await, 2627);
        let rows = simple_rows(&mut c, "SELECT @@TRANCOUNT, [cPassword] FROM [dbo].[UA_User] WHERE [cUser_Id] = N'002'").await;
        assert_eq!(rows[0].get::<i32, _>(0), Some(0), "XACT_ABORT rolled the transaction back");
        assert_eq!(rows[0].get::<&str, _>(1), None);
    });
}

/// An IDENTITY column takes no explicit value (544) unless IDENTITY_INSERT is on for its table.
#[test]
fn explicit_identity_values_need_identity_insert() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = connect(&ep, EncryptionLevel::NotSupported).await;
        exec(&mut c, "CREATE TABLE [dbo].[Role] ([iId] int IDENTITY(1,1) NOT NULL PRIMARY KEY, [cName] nvarchar(20) NULL)").await;
        assert_eq!(batch_error(&mut c, "INSERT INTO [dbo].[Role] ([cName]) VALUES (N'a')").await, 0);
        assert_eq!(batch_error(&mut c, "INSERT INTO [dbo].[Role] ([iId], [cName]) VALUES (7, N'b')").await, 544);
        exec(&mut c, "SET IDENTITY_INSERT [dbo].[Role] ON").await;
        assert_eq!(batch_error(&mut c, "INSERT INTO [dbo].[Role] ([iId], [cName]) VALUES (7, N'b')").await, 0);
        exec(&mut c, "SET IDENTITY_INSERT [dbo].[Role] OFF").await;
        assert_eq!(batch_error(&mut c, "INSERT INTO [dbo].[Role] ([iId], [cName]) VALUES (8, N'c')").await, 544);
        let n = simple_rows(&mut c, "SELECT COUNT(*) FROM [dbo].[Role]").await;
        assert_eq!(n[0].get::<i32, _>(0), Some(2));
    });
    assert_all_parse(&ep);
}

/// T-SQL LIKE: `[…]` classes, `[^…]`, and an escaped `[` (tds/like.rs).
#[test]
fn like_has_character_classes_and_escapes_them() {
    use tds::like::tsql_like;
    assert!(tsql_like("abc", "a[b]c", None));
    assert!(!tsql_like("a[b]c", "a[b]c", None));
    assert!(tsql_like("a[b]c", "a![b]c", Some('!')));
    assert!(!tsql_like("abc", "a![b]c", Some('!')));
    assert!(tsql_like("x7", "x[0-9]", None));
    assert!(!tsql_like("x7", "x[^0-9]", None));
    assert!(tsql_like("ADMIN", "%dm%", None));
    assert!(tsql_like("张三丰", "%三%", Some('!')));
    assert!(tsql_like("a%b", "%!%%", Some('!')));
    assert!(!tsql_like("ab", "%!%%", Some('!')));
    assert!(!tsql_like("axb", "a!_b", Some('!')));
    assert!(tsql_like("a[", "a[", None));
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = seeded(&ep, EncryptionLevel::NotSupported).await;
        exec(&mut c, "INSERT INTO [dbo].[UA_User] ([cUser_Id], [iAdmin]) VALUES (N'a[0]1', 0)").await;
        let like = "SELECT [cUser_Id] FROM [dbo].[UA_User] WHERE [cUser_Id] LIKE @P1 ESCAPE '!' ORDER BY [cUser_Id]";
        let ids = |rows: Vec<tiberius::Row>| rows.iter().map(|r| r.get::<&str, _>(0).unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(ids(query_rows(&mut c, like, &[&"00[12]"]).await), ["001", "002"]);
        assert_eq!(ids(query_rows(&mut c, like, &[&"%[0]%"]).await), ["001", "002", "a[0]1"]);
        assert_eq!(ids(query_rows(&mut c, like, &[&"%![0]%"]).await), ["a[0]1"]);
        assert_eq!(ids(query_rows(&mut c, "SELECT [cUser_Id] FROM [dbo].[UA_User] WHERE [cUser_Id] NOT LIKE @P1 ORDER BY [cUser_Id]", &[&"[0a]%"]).await), Vec::<String>::new());
    });
    assert_all_parse(&ep);
}

#[test]
fn go_batches_split() {
    let parts = tds::split_go_batches(
        "CREATE TABLE a (x int)\nGO\nINSERT INTO a VALUES (1)\n  go  \nSELECT 1\n",
    );
    assert_eq!(parts.len(), 3);
    assert!(parts[1].contains("INSERT"));
}

#[test]
fn fixture_loads_through_the_endpoint() {
    let ep = endpoint(ServerEncryption::NotSupported);
    let script =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/u8.sql"))
            .unwrap();
    rt().block_on(async {
        let mut c = connect(&ep, EncryptionLevel::NotSupported).await;
        for batch in tds::split_go_batches(&script) {
            exec(&mut c, &batch).await;
        }
        let row = c
            .query("SELECT [cUser_Name], [dPasswordDate], [iAdmin] FROM [UFSystem]..[UA_User] WHERE [cUser_Id] = @P1", &[&"admin"])
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<&str, _>(0), Some("系统管理员"));
        let d: NaiveDateTime = row.get(1).unwrap();
        assert_eq!(d.to_string(), "2025-05-20 10:00:00");
        assert_eq!(row.get::<i32, _>(2), Some(1));
    });
    assert_all_parse(&ep);
}

#[test]
fn column_types_round_trip() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = connect(&ep, EncryptionLevel::NotSupported).await;
        exec(
            &mut c,
            "CREATE TABLE [dbo].[T] ([id] int NOT NULL PRIMARY KEY, [b] bigint NULL, [t] tinyint NULL, [s] smallint NULL,
              [f] bit NULL, [r] float NULL, [bin] varbinary(max) NULL, [d2] datetime2 NULL, [dd] date NULL,
              [c] char(4) NULL, [big] nvarchar(max) NULL, [bigv] varchar(max) COLLATE Chinese_PRC_CI_AS NULL)",
        )
        .await;
        let d2 = NaiveDateTime::parse_from_str("2023-12-31 23:59:58.5", "%Y-%m-%d %H:%M:%S%.f").unwrap();
        let dd = chrono::NaiveDate::from_ymd_opt(2020, 1, 2).unwrap();
        let big = "长".repeat(5000);
        let r = c
            .execute(
                "INSERT INTO [dbo].[T] ([id], [b], [t], [s], [f], [r], [bin], [d2], [dd], [c], [big], [bigv])
                 VALUES (@P1, @P2, @P3, @P4, @P5, @P6, @P7, @P8, @P9, @P10, @P11, @P12)",
                &[&1i32, &(1i64 << 40), &7u8, &-3i16, &true, &2.5f64, &vec![0u8, 1, 2, 255], &d2, &dd, &"ab", &big.as_str(), &big.as_str()],
            )
            .await
            .unwrap();
        assert_eq!(r.total(), 1);
        c.execute("INSERT INTO [dbo].[T] ([id], [b], [f], [bin], [d2]) VALUES (@P1, @P2, @P3, @P4, @P5)", &[&2i32, &Option::<i64>::None, &Option::<bool>::None, &Option::<Vec<u8>>::None, &Option::<NaiveDateTime>::None])
            .await
            .unwrap();
        let rows = simple_rows(&mut c, "SELECT * FROM [dbo].[T] ORDER BY [id]").await;
        let r = &rows[0];
        assert_eq!(r.get::<i32, _>("id"), Some(1));
        assert_eq!(r.get::<i64, _>("b"), Some(1i64 << 40));
        assert_eq!(r.get::<u8, _>("t"), Some(7));
        assert_eq!(r.get::<i16, _>("s"), Some(-3));
        assert_eq!(r.get::<bool, _>("f"), Some(true));
        assert_eq!(r.get::<f64, _>("r"), Some(2.5));
        assert_eq!(r.get::<&[u8], _>("bin"), Some(&[0u8, 1, 2, 255][..]));
        assert_eq!(r.get::<NaiveDateTime, _>("d2"), Some(d2));
        assert_eq!(r.get::<chrono::NaiveDate, _>("dd"), Some(dd));
        assert_eq!(r.get::<&str, _>("c"), Some("ab"));
        assert_eq!(r.get::<&str, _>("big"), Some(big.as_str()));
        assert_eq!(r.get::<&str, _>("bigv"), Some(big.as_str()));
        let r = &rows[1];
        assert_eq!(r.get::<i64, _>("b"), None);
        assert_eq!(r.get::<bool, _>("f"), None);
        assert_eq!(r.get::<&[u8], _>("bin"), None);
        assert_eq!(r.get::<NaiveDateTime, _>("d2"), None);
        // IF with a following statement in the same batch
        let res = c
            .simple_query("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;\nSELECT COUNT(*) FROM [dbo].[T]")
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap();
        assert_eq!(res.last().unwrap()[0].get::<i32, _>(0), Some(2));
    });
    assert_all_parse(&ep);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// A hand-made client: named `sp_executesql` RPC with a typed NULL, and the raw
/// COLMETADATA/ROW bytes of a VARCHAR column (CP936 under LCID 0x0804).
#[test]
fn raw_named_rpc_shows_gbk_bytes_on_the_wire() {
    use tds::wire;
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        // Kept open: the raw client below reads the rows it seeded.
        let _c = seeded(&ep, EncryptionLevel::NotSupported).await;

        let mut s = TcpStream::connect(("127.0.0.1", ep.port())).await.unwrap();
        // PRELOGIN: ENCRYPTION = NOT_SUP only
        wire::write_message(
            &mut s,
            wire::PKT_PRELOGIN,
            &[0x01, 0x00, 0x06, 0x00, 0x01, 0xFF, 0x02],
        )
        .await
        .unwrap();
        let (ty, _) = wire::read_message(&mut s).await.unwrap().unwrap();
        assert_eq!(ty, wire::PKT_REPLY);
        // LOGIN7
        let (user, pw, db) = (utf16("sa"), utf16("Locksmith-Test-1"), utf16("UFSystem"));
        let pw: Vec<u8> = pw.iter().map(|b| b.rotate_left(4) ^ 0xA5).collect();
        let mut fixed = vec![0u8; 94];
        fixed[4..8].copy_from_slice(&0x730B_0003u32.to_le_bytes());
        fixed[8..12].copy_from_slice(&4096u32.to_le_bytes());
        let mut data = Vec::new();
        let mut put = |fixed: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            let off = (94 + data.len()) as u16;
            fixed[at..at + 2].copy_from_slice(&off.to_le_bytes());
            fixed[at + 2..at + 4].copy_from_slice(&((bytes.len() / 2) as u16).to_le_bytes());
            data.extend_from_slice(bytes);
        };
        put(&mut fixed, 40, &user);
        put(&mut fixed, 44, &pw);
        put(&mut fixed, 68, &db);
        let mut login = fixed;
        login.extend(data);
        let len = login.len() as u32;
        login[0..4].copy_from_slice(&len.to_le_bytes());
        wire::write_message(&mut s, wire::PKT_LOGIN7, &login)
            .await
            .unwrap();
        let (_, resp) = wire::read_message(&mut s).await.unwrap().unwrap();
        assert!(resp.contains(&0xAD), "no LOGINACK");

        // RPC by name with ALL_HEADERS
        let mut rpc = Vec::new();
        rpc.extend_from_slice(&22u32.to_le_bytes());
        rpc.extend_from_slice(&18u32.to_le_bytes());
        rpc.extend_from_slice(&2u16.to_le_bytes());
        rpc.extend_from_slice(&0u64.to_le_bytes());
        rpc.extend_from_slice(&1u32.to_le_bytes());
        let name = utf16("sp_executesql");
        rpc.extend_from_slice(&((name.len() / 2) as u16).to_le_bytes());
        rpc.extend(name);
        rpc.extend_from_slice(&0u16.to_le_bytes());
        let nvarchar = |rpc: &mut Vec<u8>, pname: &str, v: &str| {
            let n = utf16(pname);
            rpc.push((n.len() / 2) as u8);
            rpc.extend(n);
            rpc.push(0);
            rpc.push(0xE7);
            rpc.extend_from_slice(&8000u16.to_le_bytes());
            rpc.extend_from_slice(&wire::COLLATION);
            let b = utf16(v);
            rpc.extend_from_slice(&(b.len() as u16).to_le_bytes());
            rpc.extend(b);
        };
        nvarchar(
            &mut rpc,
            "",
            "SELECT [cUser_Name] FROM [dbo].[UA_User] WHERE [cUser_Id] = @P1 AND (@P2 IS NULL)",
        );
        nvarchar(&mut rpc, "", "@P1 nvarchar(4000), @P2 int");
        nvarchar(&mut rpc, "@P1", "001");
        let n = utf16("@P2");
        rpc.push(3);
        rpc.extend(n);
        rpc.extend_from_slice(&[0, 0x26, 4, 0]);
        wire::write_message(&mut s, wire::PKT_RPC, &rpc)
            .await
            .unwrap();
        let (_, resp) = wire::read_message(&mut s).await.unwrap().unwrap();
        assert_eq!(resp[0], 0x81, "COLMETADATA first");
        assert!(
            contains(&resp, &[0xA7, 0x40, 0x1F, 0x04, 0x08, 0xD0, 0x00, 0x00]),
            "{resp:02X?}"
        );
        assert!(
            contains(&resp, &[0xD1, 0x04, 0x00, 0xD5, 0xC5, 0xC8, 0xFD]),
            "{resp:02X?}"
        );
        assert!(contains(&resp, &[0x79, 0, 0, 0, 0, 0xFE]), "{resp:02X?}");

        // an unknown procedure is an error, not a hang
        let mut bad = rpc[..22].to_vec();
        let name = utf16("sp_nope");
        bad.extend_from_slice(&((name.len() / 2) as u16).to_le_bytes());
        bad.extend(name);
        bad.extend_from_slice(&0u16.to_le_bytes());
        wire::write_message(&mut s, wire::PKT_RPC, &bad)
            .await
            .unwrap();
        let (_, resp) = wire::read_message(&mut s).await.unwrap().unwrap();
        assert_eq!(resp[0], 0xAA);
        assert!(contains(&resp, &2812u32.to_le_bytes()));
    });
    assert!(ep.statements().iter().any(|s| s.contains("(@P2 IS NULL)")));
    assert_all_parse(&ep);
}

#[test]
fn conditional_insert_delete_defaults_and_drop() {
    let ep = endpoint(ServerEncryption::NotSupported);
    rt().block_on(async {
        let mut c = connect(&ep, EncryptionLevel::NotSupported).await;
        exec(
            &mut c,
            "CREATE TABLE [dbo].[Log] ([k] nvarchar(20) NOT NULL, [v] varchar(20) NULL, [ts] datetime NOT NULL DEFAULT (getdate()), [n] int NOT NULL DEFAULT ((0)), PRIMARY KEY ([k]))",
        )
        .await;
        exec(&mut c, "CREATE INDEX [IX_Log_v] ON [dbo].[Log] ([v])").await;
        let ins = "INSERT INTO [UFSystem].[dbo].[Log] ([k], [v]) SELECT @P1, @P2 WHERE NOT EXISTS (SELECT 1 FROM [UFSystem].[dbo].[Log] WHERE [k] = @P1)";
        assert_eq!(c.execute(ins, &[&"a", &"王五"]).await.unwrap().total(), 1);
        assert_eq!(c.execute(ins, &[&"A", &"王五"]).await.unwrap().total(), 0);
        let row = c
            .query("SELECT [ts], [n], [v] FROM [dbo].[Log] WHERE [k] = @P1", &[&"a"])
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        let ts: NaiveDateTime = row.get(0).unwrap();
        assert!((chrono::Local::now().naive_local() - ts).num_minutes().abs() < 5);
        assert_eq!(row.get::<i32, _>(1), Some(0));
        assert_eq!(row.get::<&str, _>(2), Some("王五"));
        assert_eq!(c.execute("DELETE FROM [dbo].[Log] WHERE [k] = @P1", &[&"a"]).await.unwrap().total(), 1);
        exec(&mut c, "DROP TABLE [dbo].[Log]").await;
        let r = c.simple_query("SELECT * FROM [dbo].[Log]").await;
        let r = match r {
            Ok(s) => s.into_results().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match r {
            Err(tiberius::error::Error::Server(e)) => assert_eq!(e.code(), 208),
            other => panic!("{other:?}"),
        }
    });
    assert_all_parse(&ep);
}

#[test]
fn many_concurrent_and_sequential_connections() {
    let ep = endpoint(ServerEncryption::Required);
    let port = ep.port();
    let ca = ep.ca_pem();
    rt().block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..8i32 {
            let ca = ca.clone();
            set.spawn(async move {
                let mut cfg = Config::new();
                cfg.host("localhost");
                cfg.port(port);
                cfg.authentication(AuthMethod::sql_server("sa", "Locksmith-Test-1"));
                cfg.encryption(EncryptionLevel::Required);
                cfg.trust_cert_ca(ca.to_string_lossy());
                let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                let mut c = Client::connect(cfg, tcp.compat_write()).await.unwrap();
                let row = c
                    .query("SELECT @P1 AS n, DB_NAME() AS db", &[&i])
                    .await
                    .unwrap()
                    .into_row()
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(row.get::<i32, _>("n"), Some(i));
                assert_eq!(row.get::<&str, _>("db"), Some("UFSystem"));
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        for _ in 0..3 {
            let mut c = connect(&ep, EncryptionLevel::Required).await;
            assert_eq!(
                scalar_string(&mut c, "SELECT DB_NAME()").await.as_deref(),
                Some("UFSystem")
            );
        }
    });
    assert_eq!(ep.statements().len(), 11);
}

#[test]
fn a_foreign_certificate_is_rejected() {
    let ep = endpoint(ServerEncryption::Required);
    let other = endpoint(ServerEncryption::Required);
    rt().block_on(async {
        let mut cfg = base_config(&ep, EncryptionLevel::Required, "Locksmith-Test-1");
        cfg.trust_cert_ca(other.ca_pem().to_string_lossy());
        let Err(err) = connect_cfg(&ep, cfg).await else {
            panic!("must not trust a foreign certificate");
        };
        let text = format!("{err}").to_lowercase();
        assert!(text.contains("certificate"), "{text}");
    });
}
