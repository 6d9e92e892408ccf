/**
 * The JUnit XML and `go test -json` report parsers on reports written by hand from the formats'
 * documentation (Surefire's and pytest's JUnit shapes; test2json's events), including the hostile
 * parts: CDATA holding markup, entities, a package that does not build. The real pytest and go
 * runs are in test/cli/init-report.test.ts and test/fixes/honesty-pytest.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { countAssertions } from '../../src/fixes/honesty.js';
import { parseGoTestJson, parseJunitXml, parseReport } from '../../src/fixes/test-report.js';

describe('JUnit XML', () => {
  it('counts a Surefire-shaped report per class, with failures, errors and skips', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="com.acme.PriceTest" tests="4" failures="1" errors="1" skipped="1">
    <properties><property name="java.version" value="21"/></properties>
    <testcase name="sums" classname="com.acme.PriceTest" time="0.01"/>
    <testcase name="coupon" classname="com.acme.PriceTest" time="0.02">
      <failure message="expected: &lt;5&gt; but was: &lt;10&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[
        at com.acme.PriceTest.coupon(PriceTest.java:20) <testcase name="fake"/> </testcase>
      ]]></failure>
    </testcase>
    <testcase name="npe" classname="com.acme.PriceTest"><error type="java.lang.NullPointerException"/></testcase>
    <testcase name="later" classname="com.acme.PriceTest"><skipped/></testcase>
    <!-- <testcase name="commented out" classname="com.acme.PriceTest"/> -->
  </testsuite>
  <testsuite name="com.acme.CartTest"><testcase name="a &amp; b" classname="com.acme.CartTest"></testcase></testsuite>
</testsuites>`;
    expect(parseJunitXml(xml).files).toEqual({
      'com.acme.PriceTest': { tests: 4, pass: 1, fail: 2, skip: 1, todo: 0 },
      'com.acme.CartTest': { tests: 1, pass: 1, fail: 0, skip: 0, todo: 0 },
    });
  });

  it('maps pytest classnames to their module file, and prefers a file attribute made relative', () => {
    const xml = `<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="1" tests="3">
<testcase classname="tests.test_prices" name="test_a1" time="0.001" />
<testcase classname="tests.test_prices.TestTable" name="test_unknown" time="0.001" />
<testcase classname="tests.sub.test_x" name="test_y"><skipped type="pytest.xfail" message="" /></testcase>
</testsuite></testsuites>`;
    expect(Object.keys(parseJunitXml(xml).files)).toEqual(['tests/test_prices.py', 'tests/sub/test_x.py']);
    expect(parseJunitXml(xml).total).toEqual({ tests: 3, pass: 2, fail: 0, skip: 1, todo: 0 });
    const withFile = `<testsuite name="pytest"><testcase file="/srv/app/tests/test_a.py" classname="tests.test_a" name="t"/></testsuite>`;
    expect(Object.keys(parseReport('junit', withFile, '/srv/app').files)).toEqual(['tests/test_a.py']);
  });

  it('reads nothing from text that is not JUnit', () => {
    expect(parseJunitXml('1 passed in 0.01s').total.tests).toBe(0);
    expect(parseJunitXml('').total.tests).toBe(0);
  });
});

describe('go test -json', () => {
  // test2json events as documented by `go doc test2json`: Action is one of start, run, pause,
  // cont, pass, bench, fail, output, skip; Test is absent on package-level events.
  const ev = (o: Record<string, unknown>) => JSON.stringify({ Time: '2026-12-07T00:00:00Z', ...o });
  const events = [
    ev({ Action: 'start', Package: 'example.com/shop/pricing' }),
    ev({ Action: 'run', Package: 'example.com/shop/pricing', Test: 'TestA1' }),
    ev({ Action: 'output', Package: 'example.com/shop/pricing', Test: 'TestA1', Output: '=== RUN   TestA1\n' }),
    ev({ Action: 'pass', Package: 'example.com/shop/pricing', Test: 'TestA1', Elapsed: 0 }),
    ev({ Action: 'run', Package: 'example.com/shop/pricing', Test: 'TestTable' }),
    ev({ Action: 'run', Package: 'example.com/shop/pricing', Test: 'TestTable/a1' }),
    ev({ Action: 'pass', Package: 'example.com/shop/pricing', Test: 'TestTable/a1' }),
    ev({ Action: 'run', Package: 'example.com/shop/pricing', Test: 'TestTable/b2' }),
    ev({ Action: 'fail', Package: 'example.com/shop/pricing', Test: 'TestTable/b2' }),
    ev({ Action: 'fail', Package: 'example.com/shop/pricing', Test: 'TestTable' }),
    ev({ Action: 'run', Package: 'example.com/shop/pricing', Test: 'TestOwnFailure' }),
    ev({ Action: 'run', Package: 'example.com/shop/pricing', Test: 'TestOwnFailure/x' }),
    ev({ Action: 'pass', Package: 'example.com/shop/pricing', Test: 'TestOwnFailure/x' }),
    ev({ Action: 'fail', Package: 'example.com/shop/pricing', Test: 'TestOwnFailure' }),
    ev({ Action: 'skip', Package: 'example.com/shop/pricing', Test: 'TestLater' }),
    ev({ Action: 'fail', Package: 'example.com/shop/pricing', Elapsed: 0.01 }),
    ev({ Action: 'skip', Package: 'example.com/shop/empty' }),
    '# example.com/shop/broken',
    'broken/broken.go:3:1: syntax error: non-declaration statement outside function body',
    ev({ Action: 'fail', Package: 'example.com/shop/broken', Elapsed: 0, FailedBuild: 'example.com/shop/broken' }),
    '{"Action":"pass","Package":"example.com/shop/pricing","Test":"TestTorn',
  ].join('\n');

  it('counts leaf tests per package; a parent counts only for a failure of its own; a package that does not build fails', () => {
    expect(parseGoTestJson(events).files).toEqual({
      'example.com/shop/pricing': { tests: 6, pass: 3, fail: 2, skip: 1, todo: 0 },
      'example.com/shop/broken': { tests: 1, pass: 0, fail: 1, skip: 0, todo: 0 },
    });
    expect(parseReport('go-json', events).total).toEqual({ tests: 7, pass: 3, fail: 3, skip: 1, todo: 0 });
  });
});

describe('assertions of other languages', () => {
  it('counts pytest, unittest and Go assertions, not comments', () => {
    expect(
      countAssertions(
        'def test_a():\n    assert f() == 1\n    # assert g()\n    with pytest.raises(KeyError):\n        f()\n',
      ),
    ).toBe(2);
    expect(
      countAssertions(
        'class T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(f(), 1)\n        self.assertTrue(g())\n',
      ),
    ).toBe(2);
    expect(
      countAssertions(
        'func TestA(t *testing.T) {\n\tif f() != 1 { t.Fatalf("f") }\n\t// t.Error("x")\n\trequire.Equal(t, 1, g())\n}\n',
      ),
    ).toBe(2);
  });
});
