import { Body, Controller, Get, HttpCode, HttpStatus, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { FastifyReply } from 'fastify';
import { Authenticated, Public } from '../access/authorize.decorator';
import { CurrentUser } from '../access/request-ability.decorator';
import { ApiErrors } from '../http/api-errors.decorator';
import type { AuthUser } from '../identity/auth-user';
import { AuthThrottlerGuard } from './auth-throttler.guard';
import { AuthService } from './auth.service';
import {
  AcceptedDto,
  ChangePasswordDto,
  ConfirmSignUpDto,
  ForgotPasswordDto,
  LoginDto,
  MeDto,
  RefreshDto,
  RegisterDto,
  ResetPasswordDto,
  TokensDto,
} from './dto/auth.dto';
import type { ClientInfo } from './token.service';

interface RequestWithClient {
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
}

const clientOf = (request: RequestWithClient): ClientInfo => ({
  ip: request.ip ?? null,
  userAgent: typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'] : null,
});

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('register')
  @Public()
  @UseGuards(AuthThrottlerGuard)
  // Every sign-up mails its address: throttled as password resets are, so it cannot flood a mailbox.
  @SkipThrottle({ login: true, 'login-account': true })
  @ApiOperation({
    summary: 'Create an account',
    description:
      'The first account of a deployment becomes admin and is signed in at once (201). Every later one is a client account with a contact in ' +
      'status Lead, opened when the address is confirmed: the answer is 202 whether or not the address is in use, and a link to confirm it is ' +
      'mailed (`POST /auth/register/confirm`), or, to an address that already has an account, a note saying so.',
    operationId: 'register',
  })
  @ApiCreatedResponse({ type: TokensDto, description: 'The first account: made admin and signed in.' })
  @ApiAcceptedResponse({ type: AcceptedDto, description: 'A confirmation link is on its way to the address.' })
  @ApiErrors(400, 413, 429)
  async register(@Body() body: RegisterDto, @Req() request: RequestWithClient, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokensDto | AcceptedDto> {
    const signedIn = await this.auth.register(body, clientOf(request));
    if (signedIn) return signedIn;
    void reply.status(HttpStatus.ACCEPTED);
    return { message: 'Check your mail: a link to confirm the address is on its way.' };
  }

  @Post('register/confirm')
  @Public()
  @ApiOperation({
    summary: 'Confirm a sign-up and sign in',
    description:
      'Opens the account with the token from the mailed link and the password chosen when signing up (a link opens only the sign-up it was ' +
      "sent for). An address a contact already has (without an account) becomes that contact's account, keeping its names and details. " +
      'The link works once.',
    operationId: 'confirmSignUp',
  })
  @ApiCreatedResponse({ type: TokensDto, description: 'Account opened and signed in.' })
  @ApiErrors(400, 409, 413)
  confirmSignUp(@Body() body: ConfirmSignUpDto, @Req() request: RequestWithClient): Promise<TokensDto> {
    return this.auth.confirmSignUp(body.token, body.password, clientOf(request));
  }

  @Post('login')
  @Public()
  @HttpCode(HttpStatus.OK)
  @UseGuards(AuthThrottlerGuard)
  @SkipThrottle({ forgot: true, 'forgot-account': true })
  @ApiOperation({ summary: 'Sign in', description: '`user.accountType` tells a front end whether to open the back office or the client portal.', operationId: 'login' })
  @ApiOkResponse({ type: TokensDto })
  @ApiErrors(400, 401, 413, 429)
  login(@Body() body: LoginDto, @Req() request: RequestWithClient): Promise<TokensDto> {
    return this.auth.login(body.email, body.password, clientOf(request));
  }

  @Post('refresh')
  @Public()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Exchange a refresh token for a new pair', description: 'Each refresh token works once; reusing one ends all sessions of that sign-in.', operationId: 'refresh' })
  @ApiOkResponse({ type: TokensDto })
  @ApiErrors(400, 401, 413)
  refresh(@Body() body: RefreshDto, @Req() request: RequestWithClient): Promise<TokensDto> {
    return this.auth.refresh(body.refreshToken, clientOf(request));
  }

  @Post('logout')
  @Public()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Sign out', description: 'Ends the session the refresh token belongs to.', operationId: 'logout' })
  @ApiNoContentResponse({ description: 'Signed out (also when the token was already invalid).' })
  @ApiErrors(400, 413)
  async logout(@Body() body: RefreshDto): Promise<void> {
    await this.auth.logout(body.refreshToken);
  }

  @Get('me')
  @Authenticated()
  @ApiOperation({ summary: 'The signed-in account, its roles and permission rules', operationId: 'me' })
  @ApiOkResponse({ type: MeDto })
  @ApiErrors(401)
  me(@CurrentUser() user: AuthUser): Promise<MeDto> {
    return this.auth.me(user);
  }

  @Post('forgot-password')
  @Public()
  @HttpCode(HttpStatus.ACCEPTED)
  @UseGuards(AuthThrottlerGuard)
  @SkipThrottle({ login: true, 'login-account': true })
  @ApiOperation({ summary: 'Ask for a password reset link', description: 'Answers the same whether or not the account exists.', operationId: 'forgotPassword' })
  @ApiAcceptedResponse({ type: AcceptedDto })
  @ApiErrors(400, 413, 429)
  forgotPassword(@Body() body: ForgotPasswordDto): AcceptedDto {
    this.auth.forgotPassword(body.email);
    return { message: 'If an account exists for that address, a reset link is on its way.' };
  }

  @Post('reset-password')
  @Public()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Set a new password with a reset or invitation token', description: 'Ends every session of the account.', operationId: 'resetPassword' })
  @ApiNoContentResponse({ description: 'Password set; sign in with it.' })
  @ApiErrors(400, 413)
  async resetPassword(@Body() body: ResetPasswordDto): Promise<void> {
    await this.auth.resetPassword(body.token, body.password);
  }

  @Post('change-password')
  @Authenticated()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Change your own password', description: 'Ends every session, including this one: sign in again.', operationId: 'changePassword' })
  @ApiNoContentResponse({ description: 'Password changed.' })
  @ApiErrors(400, 401, 413)
  async changePassword(@CurrentUser() user: AuthUser, @Body() body: ChangePasswordDto): Promise<void> {
    await this.auth.changePassword(user, body);
  }
}
