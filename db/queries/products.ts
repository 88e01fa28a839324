import type { Db, DbExecutor } from '../database.ts';
import { recordAudit } from './audit.ts';
import type { NewProduct, Product, ProductFormat } from '../tables/products.ts';

/** Where a product's file lives in storage: `ebooks/<slug>/<version>/file.<format>`. */
export function productStoragePath(
  product: Pick<Product, 'slug' | 'version'>,
  format: ProductFormat,
): string {
  return `ebooks/${product.slug}/${product.version}/file.${format}`;
}

export async function findProductsBySkus(db: DbExecutor, skus: string[]): Promise<Product[]> {
  if (skus.length === 0) return [];
  return db.selectFrom('products').selectAll().where('sku', 'in', skus).execute();
}

/** The whole catalog, by SKU (a catalog is hundreds of products, not millions). */
export async function listProducts(db: DbExecutor): Promise<Product[]> {
  return db.selectFrom('products').selectAll().orderBy('sku').limit(10_000).execute();
}

export async function countProducts(db: DbExecutor): Promise<number> {
  const row = await db
    .selectFrom('products')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Inserts or updates products by SKU. */
export async function upsertProducts(db: DbExecutor, products: NewProduct[]): Promise<void> {
  if (products.length === 0) return;
  await db
    .insertInto('products')
    .values(products)
    .onConflict((oc) =>
      oc.column('sku').doUpdateSet((eb) => ({
        slug: eb.ref('excluded.slug'),
        title: eb.ref('excluded.title'),
        version: eb.ref('excluded.version'),
        formats: eb.ref('excluded.formats'),
        stripe_price_id: eb.ref('excluded.stripe_price_id'),
      })),
    )
    .execute();
}

/** What importing a row does to the products table. */
export type ProductChange = 'created' | 'updated' | 'unchanged';

/**
 * Imports catalog rows in one transaction: reads the products they replace and says what each
 * row changes; unless `dryRun`, clears the price ids moving to a SKU outside the file, upserts
 * the rows by SKU and records the audit entry with the changes. Returns one change per row.
 */
export async function importProducts(
  db: Db,
  rows: NewProduct[],
  {
    dryRun,
    priceIds,
    audit,
  }: {
    dryRun: boolean;
    /** Every price id the rows carry. */
    priceIds: string[];
    audit: { actor: string; role: string; reason: string };
  },
): Promise<ProductChange[]> {
  return db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('products')
      .selectAll()
      .where(
        'sku',
        'in',
        rows.map((r) => r.sku),
      )
      .execute();
    const bySku = new Map(existing.map((p) => [p.sku, p]));
    const changes = rows.map((row): ProductChange => {
      const before = bySku.get(row.sku);
      const same =
        before &&
        before.slug === row.slug &&
        before.title === row.title &&
        before.version === row.version &&
        before.formats.join(',') === row.formats.join(',') &&
        before.stripe_price_id === row.stripe_price_id;
      return !before ? 'created' : same ? 'unchanged' : 'updated';
    });
    if (dryRun) return changes;
    // A price id moving from one SKU to another would collide on the unique index mid-upsert.
    if (priceIds.length > 0) {
      await trx
        .updateTable('products')
        .set({ stripe_price_id: null })
        .where('stripe_price_id', 'in', priceIds)
        .where(
          'sku',
          'not in',
          rows.map((r) => r.sku),
        )
        .execute();
    }
    await upsertProducts(trx, rows);
    const skusWith = (change: ProductChange) =>
      rows.filter((_, i) => changes[i] === change).map((r) => r.sku);
    await recordAudit(trx, {
      actor: audit.actor,
      action: 'catalog.imported',
      target: 'products',
      reason: audit.reason,
      detail: {
        role: audit.role,
        created: skusWith('created'),
        updated: skusWith('updated'),
        unchanged: changes.filter((change) => change === 'unchanged').length,
      },
    });
    return changes;
  });
}
