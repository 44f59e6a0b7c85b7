import 'reflect-metadata';
import { ApiProperty, ApiPropertyOptional, PartialType } from '@nestjs/swagger';
import { inputRuleErrors } from './input-rules';

class NoteDto {
  @ApiProperty() title!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) comment?: string | null;
}
class NotePatchDto extends PartialType(NoteDto) {}

describe('inputRuleErrors', () => {
  it('refuses null where the property is not documented as nullable, also on a PartialType', () => {
    expect(inputRuleErrors({ title: null, comment: null }, '', NoteDto)).toEqual([
      { field: 'title', messages: ['title must not be null'] },
    ]);
    expect(inputRuleErrors({ title: null, comment: null }, '', NotePatchDto)).toEqual([
      { field: 'title', messages: ['title must not be null'] },
    ]);
  });

  it('finds NUL and lone surrogates in nested strings and field names, with their path', () => {
    expect(inputRuleErrors({ a: [{ b: 'x\u0000' }], 'k\u0000': 1, c: '\udc00', d: '🎷' }, '')).toEqual([
      { field: 'a.0.b', messages: ['a.0.b must not contain the NUL character (U+0000)'] },
      { field: 'k\u0000', messages: ['a field name must not contain the NUL character (U+0000)'] },
      { field: 'c', messages: ['c must be well-formed Unicode (no lone surrogates)'] },
    ]);
  });

  it('checks a single parameter under its name', () => {
    expect(inputRuleErrors('\u0000', 'id')).toEqual([
      { field: 'id', messages: ['id must not contain the NUL character (U+0000)'] },
    ]);
  });
});
