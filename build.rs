// New migration files must trigger a rebuild, since they are embedded with `sqlx::migrate!`.
// The PostgreSQL variants of the behaviour tests are compiled as ignored unless
// TESSERA_TEST_DATABASE_URL is set, so `cargo test` reports them as skipped, with the reason;
// the same for the Python interoperability tests and TESSERA_PYTHON.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=TESSERA_TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(tessera_pg_tests)");
    // Likewise the interoperability tests against Python verifiers (TESSERA_PYTHON).
    println!("cargo:rerun-if-env-changed=TESSERA_PYTHON");
    println!("cargo::rustc-check-cfg=cfg(tessera_python_tests)");
    if std::env::var("TESSERA_PYTHON").is_ok_and(|python| !python.is_empty()) {
        println!("cargo:rustc-cfg=tessera_python_tests");
    }
    // Likewise the shared rate-limit tests against Redis (TESSERA_TEST_REDIS_URL).
    println!("cargo:rerun-if-env-changed=TESSERA_TEST_REDIS_URL");
    println!("cargo::rustc-check-cfg=cfg(tessera_redis_tests)");
    if std::env::var("TESSERA_TEST_REDIS_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo:rustc-cfg=tessera_redis_tests");
    }
    // Likewise the browser tests (headless Chromium through TESSERA_CHROMEDRIVER).
    println!("cargo:rerun-if-env-changed=TESSERA_CHROMEDRIVER");
    println!("cargo::rustc-check-cfg=cfg(tessera_browser_tests)");
    if std::env::var("TESSERA_CHROMEDRIVER").is_ok_and(|path| !path.is_empty()) {
        println!("cargo:rustc-cfg=tessera_browser_tests");
    }
    if std::env::var("TESSERA_TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        println!("cargo:rustc-cfg=tessera_pg_tests");
    }
}
