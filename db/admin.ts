import pg from 'pg';

/** Database names we create: a prefix and random hex (never user input), checked anyway. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

async function runAdminStatement(adminUrl: string, statement: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(statement);
  } finally {
    await admin.end();
  }
}

function checkedName(name: string): string {
  if (!DATABASE_NAME.test(name)) throw new Error(`not a database name we create: ${name}`);
  return name;
}

/** Creates an empty database on the server `adminUrl` points at (tests, benchmarks, chaos). */
export async function createDatabase(adminUrl: string, name: string): Promise<void> {
  await runAdminStatement(adminUrl, `create database ${checkedName(name)}`);
}

/**
 * Creates `name` as a copy of `template` (which no one may be connected to): a migrated,
 * seeded database in a fraction of the time its migrations take.
 */
export async function copyDatabase(
  adminUrl: string,
  name: string,
  template: string,
): Promise<void> {
  await runAdminStatement(
    adminUrl,
    `create database ${checkedName(name)} template ${checkedName(template)}`,
  );
}

/** Drops a database, closing whatever connections are still open on it. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await runAdminStatement(adminUrl, `drop database if exists ${checkedName(name)} with (force)`);
}

/** The names of the databases on the server that start with `prefix`. */
export async function listDatabases(adminUrl: string, prefix: string): Promise<string[]> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      'select datname from pg_database where starts_with(datname, $1) order by datname',
      [prefix],
    );
    return rows.map((row) => row.datname);
  } finally {
    await admin.end();
  }
}
