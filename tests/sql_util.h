/* Reading a database back in the tests, through SQLite directly and
 * independently of src/trace, so that what the library wrote is checked by
 * other code than the one that wrote it. */
#ifndef ES_TESTS_SQL_UTIL_H
#define ES_TESTS_SQL_UTIL_H

/* The first column of the first row of sql on the database at path, as an
 * integer; -999 when the file, the query or the row is missing. */
long long sql_int(const char *db_path, const char *sql);

#endif
