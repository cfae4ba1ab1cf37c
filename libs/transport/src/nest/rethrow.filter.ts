// NestJS's default RPC exception filter replaces an unknown error with
// { status: 'error', message: 'Internal server error' }, which would hide a model bug (and the
// seed and virtual time its message carries). This filter passes the original error through, so
// the transport reports it and the run fails with the real cause.
import { Catch, type ArgumentsHost, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

@Catch()
export class RethrowExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
