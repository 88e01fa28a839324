import type { Generated, Insertable, Selectable } from 'kysely';

export const PRODUCT_FORMATS = ['pdf', 'epub'] as const;
export type ProductFormat = (typeof PRODUCT_FORMATS)[number];

/** The catalog: what a SKU is and where its versioned files live in storage. */
export interface ProductsTable {
  id: Generated<string>;
  sku: string;
  slug: string;
  title: string;
  version: string;
  formats: ProductFormat[];
  stripe_price_id: string | null;
  created_at: Generated<Date>;
}

export type Product = Selectable<ProductsTable>;
export type NewProduct = Insertable<ProductsTable>;
