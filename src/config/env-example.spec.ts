import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { envSchema } from './env.schema';
import { loadConfig } from './load-config';

const example = readFileSync(join(__dirname, '..', '..', '.env.example'), 'utf8');
const assignments = [...example.matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=(.*)$/gm)].map(([, name, value]) => ({
  name: name!,
  value: value!,
  active: !example.includes(`# ${name}=`),
}));

describe('.env.example', () => {
  it('lists every variable of the schema, in its order, and nothing else', () => {
    expect(assignments.map((a) => a.name)).toEqual(Object.keys(envSchema.shape));
  });

  it('gives each variable its default, so copying it changes nothing', () => {
    const active = Object.fromEntries(assignments.filter((a) => a.active).map((a) => [a.name, a.value]));
    expect(loadConfig(active)).toEqual(loadConfig({}));
  });
});
