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

/** Drops a database, closing whatever connections are still open on it. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await runAdminStatement(adminUrl, `drop database if exists ${checkedName(name)} with (force)`);
}
