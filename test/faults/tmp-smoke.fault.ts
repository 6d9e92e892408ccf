import { expect, it } from 'vitest';
import { goodFix } from './agent.js';
import { ShopStack, TERMINAL } from './fixture.js';

it('good fix deploys', async () => {
  const t0 = Date.now();
  const s = await ShopStack.create(goodFix());
  try {
    await s.startSupervisor();
    console.log('started', Date.now() - t0);
    s.startTraffic();
    const f = await s.fixIn(TERMINAL, 90_000);
    console.log('ended', f, Date.now() - t0, s.traffic?.stats(), s.currentRelease(), s.baseTree);
    console.log(
      s
        .events()
        .map((e) => `${e.ts - t0} ${e.from_state}->${e.to_state} ${e.actor} ${e.reason}`)
        .join('\n'),
    );
    console.log(JSON.stringify(s.deploys()));
    expect(f.state).toBe('deployed');
  } finally {
    console.log(s.log().slice(-3000));
    await s.stop();
  }
});
