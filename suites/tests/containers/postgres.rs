//! PostgreSQL for the containers: the host's (ci/setup/postgres.sh), and a
//! throwaway instance ([`kubegate::postgres::TestDatabase`]) the readiness
//! test may stop and start without disturbing any other test.

use std::net::{IpAddr, Ipv4Addr};

use kubegate::postgres::TestDatabase;

/// Host name containers use for the Docker host (mapped to the bridge
/// gateway with `host-gateway`).
pub const HOST_FROM_CONTAINER: &str = "host.docker.internal";

/// The host database's URL as a container must use it (host part replaced
/// by [`HOST_FROM_CONTAINER`]). From `TEST_DATABASE_URL`, else the file
/// ci/setup/postgres.sh writes.
pub fn host_database_url_for_containers() -> Result<String, String> {
    let url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let file = kubegate::dirs::cache_root().join("postgres/database_url");
            std::fs::read_to_string(&file).map(|s| s.trim().to_owned()).map_err(|e| {
                format!("no database: {} unreadable ({e}); start PostgreSQL: ci/setup.sh postgres", file.display())
            })?
        }
    };
    // postgres://user:password@HOST:port/db -> HOST replaced.
    let (scheme_creds, rest) = url.rsplit_once('@').ok_or("database URL has no '@host' part")?;
    let (_host, port_db) = rest.split_once(':').ok_or("database URL has no ':port' after the host")?;
    Ok(format!("{scheme_creds}@{HOST_FROM_CONTAINER}:{port_db}"))
}

/// The password part of the host database URL (to look for in logs).
pub fn host_database_password() -> Option<String> {
    std::fs::read_to_string(kubegate::dirs::cache_root().join("postgres/password")).ok().map(|s| s.trim().to_owned())
}

/// A throwaway database on every interface (containers reach it through the
/// Docker bridge) and its URL as a container must use it.
pub fn private_database() -> (TestDatabase, String) {
    let db =
        TestDatabase::start(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).unwrap_or_else(|e| panic!("private PostgreSQL: {e}"));
    let url = db.url_for_host(HOST_FROM_CONTAINER);
    (db, url)
}
