/* sql_config.h -- configuration versions (config.c). A version is never
** changed or deleted once written; the active one is the highest. */
PT_SQL(CONFIG_LATEST,
       "SELECT version, config_json FROM config_versions "
       "ORDER BY version DESC LIMIT 1")
PT_SQL(CONFIG_LATEST_VERSION, "SELECT max(version) FROM config_versions")
PT_SQL(CONFIG_GET,
       "SELECT version, config_json FROM config_versions WHERE version = ?1")
PT_SQL(CONFIG_INSERT,
       "INSERT INTO config_versions (applied_at, source_name, source, "
       "config_json) VALUES (?1, ?2, ?3, ?4) RETURNING version")
