import type { DbExecutor } from '../database.ts';
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
