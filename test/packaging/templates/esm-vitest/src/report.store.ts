import { Injectable } from '@nestjs/common';

/** Where the handler puts what it built (a database in a real app). */
@Injectable()
export class ReportStore {
  readonly built = new Map<string, string>();
}
