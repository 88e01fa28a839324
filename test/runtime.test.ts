import { describe, expect, it } from 'vitest';

describe('runtime', () => {
  it('runs on Node 24 when started through npm', () => {
    expect(process.version).toMatch(/^v24\./);
  });
});
