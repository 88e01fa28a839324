import type { NewProduct } from '../db/tables/products.ts';

/** A small catalog for `npm start` and the tests: two ebooks and a course workbook. */
export const DEMO_CATALOG: NewProduct[] = [
  {
    sku: 'ebook-durable-execution',
    slug: 'durable-execution',
    title: 'Durable Execution in Practice',
    version: 'v1',
    formats: ['pdf', 'epub'],
    stripe_price_id: 'price_demo_durable_execution',
  },
  {
    sku: 'ebook-idempotency-field-guide',
    slug: 'idempotency-field-guide',
    title: 'The Idempotency Field Guide',
    version: 'v2',
    formats: ['pdf', 'epub'],
    stripe_price_id: 'price_demo_idempotency_field_guide',
  },
  {
    sku: 'course-webhooks-workbook',
    slug: 'webhooks-workbook',
    title: 'Webhooks Course Workbook',
    version: 'v1',
    formats: ['pdf'],
    stripe_price_id: 'price_demo_webhooks_workbook',
  },
];

/** The product benchmarks and chaos scenarios buy: an ebook in two formats. */
export const DEMO_SKU = DEMO_CATALOG[0]!.sku;
