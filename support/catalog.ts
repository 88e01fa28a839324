import { z } from 'zod';
import { importProducts, productStoragePath } from '../db/queries/products.ts';
import { PRODUCT_FORMATS, type NewProduct } from '../db/tables/products.ts';
import { OperationError, requireReason, type Authorship, type OperationsDeps } from './context.ts';

const slug = z.string().regex(/^[a-z0-9][a-z0-9-]{0,99}$/, 'lower-case letters, digits and -');

/** One product in a catalog file. */
export const catalogProductSchema = z.object({
  sku: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, _ . and - only (1–100)'),
  slug,
  title: z.string().min(1).max(300),
  /** The folder under `ebooks/<slug>/`: a new version is a new folder, old links keep working. */
  version: z.string().regex(/^[A-Za-z0-9_.-]{1,50}$/, 'letters, digits, _ . and - only'),
  formats: z.array(z.enum(PRODUCT_FORMATS)).min(1),
  stripe_price_id: z.string().startsWith('price_', 'must be a Stripe price id (price_…)').nullish(),
  /** Sold through Stripe (needs a price id); false for reward-only products. */
  purchasable: z.boolean().default(true),
  /** Optional: where the files are; each must be the versioned path the service reads. */
  storage_paths: z.record(z.enum(PRODUCT_FORMATS), z.string()).optional(),
});
export const catalogFileSchema = z.object({ products: z.array(catalogProductSchema).min(1) });
export type CatalogFile = z.input<typeof catalogFileSchema>;

export interface CatalogImportReport {
  dryRun: boolean;
  products: {
    sku: string;
    version: string;
    formats: string;
    stripe_price_id: string | null;
    change: 'created' | 'updated' | 'unchanged';
  }[];
}

/**
 * Imports a catalog file: every problem is found before anything is written — schema errors,
 * duplicate SKUs, a purchasable product without a Stripe price id, a file missing from
 * storage at `ebooks/<slug>/<version>/file.<format>` — and reported together. Then all
 * products are upserted by SKU in one transaction with its audit entry.
 */
export async function importCatalog(
  deps: OperationsDeps,
  input: unknown,
  who: Authorship & { dryRun?: boolean },
  progress: (line: string) => void = () => {},
): Promise<CatalogImportReport> {
  requireReason(who);
  const parsed = catalogFileSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${i.path.join('.') || '(file)'}: ${i.message}`,
    );
    throw new OperationError(
      'invalid',
      `catalog has ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      problems,
    );
  }
  const products = parsed.data.products;
  const problems: string[] = [];
  const seen = new Set<string>();
  const prices = new Map<string, string>();
  for (const [index, product] of products.entries()) {
    const at = `products.${index} (${product.sku})`;
    if (seen.has(product.sku)) problems.push(`${at}: duplicate sku`);
    seen.add(product.sku);
    if (product.purchasable && !product.stripe_price_id)
      problems.push(`${at}: stripe_price_id is required for a purchasable product`);
    if (product.stripe_price_id) {
      const other = prices.get(product.stripe_price_id);
      if (other)
        problems.push(`${at}: stripe_price_id ${product.stripe_price_id} is also ${other}'s`);
      prices.set(product.stripe_price_id, product.sku);
    }
    if (new Set(product.formats).size !== product.formats.length)
      problems.push(`${at}: formats lists a format twice`);
    for (const format of product.formats) {
      const key = productStoragePath(product, format);
      const declared = product.storage_paths?.[format];
      if (declared !== undefined && declared !== key)
        problems.push(`${at}: storage_paths.${format} must be ${key}, not ${declared}`);
      progress(`checking ${key}`);
      if (!(await deps.storage.exists(key))) problems.push(`${at}: ${key} is missing from storage`);
    }
    for (const format of Object.keys(product.storage_paths ?? {})) {
      if (!product.formats.includes(format as (typeof PRODUCT_FORMATS)[number]))
        problems.push(`${at}: storage_paths.${format} is not one of its formats`);
    }
  }
  if (problems.length > 0) {
    throw new OperationError(
      'invalid',
      `catalog has ${problems.length} problem(s), nothing was imported:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      problems,
    );
  }

  const rows: NewProduct[] = products.map((p) => ({
    sku: p.sku,
    slug: p.slug,
    title: p.title,
    version: p.version,
    formats: p.formats,
    stripe_price_id: p.stripe_price_id ?? null,
  }));
  const changes = await importProducts(deps.db, rows, {
    dryRun: Boolean(who.dryRun),
    priceIds: [...prices.keys()],
    audit: { actor: who.operator.name, role: who.operator.role, reason: who.reason },
  });
  const report: CatalogImportReport['products'] = rows.map((row, i) => ({
    sku: row.sku,
    version: row.version,
    formats: row.formats.join(','),
    stripe_price_id: row.stripe_price_id ?? null,
    change: changes[i]!,
  }));
  return { dryRun: Boolean(who.dryRun), products: report };
}
