// TEMPORARY STUB — replaced by the real generator.
pub const DEMO_SCHEMA_VERSION: i32 = 1;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub path: std::path::PathBuf,
    pub scale: u32,
    pub tables: Vec<(String, u64)>,
}
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("stub")]
    Stub,
}
pub fn create_demo_db(
    path: &std::path::Path,
    scale: u32,
    _overwrite: bool,
) -> Result<DemoSummary, DemoError> {
    let c = rusqlite::Connection::open(path).map_err(|_| DemoError::Stub)?;
    c.execute_batch("CREATE TABLE IF NOT EXISTS regions(region_id INTEGER PRIMARY KEY, region_name TEXT NOT NULL); INSERT OR IGNORE INTO regions VALUES (1,'Europe'),(2,'Americas'),(3,'Asia'),(4,'Middle East and Africa'),(5,'Oceania'); PRAGMA user_version=1;").map_err(|_| DemoError::Stub)?;
    Ok(DemoSummary {
        path: path.into(),
        scale,
        tables: vec![("regions".into(), 5)],
    })
}
pub fn is_current_demo_db(path: &std::path::Path) -> bool {
    path.exists()
}
