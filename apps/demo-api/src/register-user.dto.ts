import { IsEmail, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

/** Body of `POST /users`. The global ValidationPipe turns a violation into a 400 naming the field. */
export class RegisterUserDto {
  @IsEmail()
  email!: string;

  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  name!: string;

  /** Also send a reminder this many seconds from now (a delayed job). */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(7 * 24 * 3600)
  remindInSeconds?: number;
}
